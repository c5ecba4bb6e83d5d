/**
 * The bad-input suite over the whole API: each resource's endpoints, run by bad-input/suite.ts.
 * Adding a POST/PATCH, an id route or a list means adding it to these tables.
 */
import { describe } from 'vitest';
import { accessEndpoints, accessIds, accessLists } from './bad-input/access.ts';
import { fleetEndpoints, fleetIds, fleetLists } from './bad-input/fleet.ts';
import { imageEndpoints, imageIds, imageLists } from './bad-input/images.ts';
import { badInputSuite } from './bad-input/suite.ts';
import type { ApiTarget } from './target.ts';

export function badInputContract(target: () => ApiTarget): void {
  describe('bad input', () => {
    badInputSuite(
      target,
      [...accessEndpoints, ...fleetEndpoints, ...imageEndpoints],
      [...accessIds, ...fleetIds, ...imageIds],
      [...accessLists, ...fleetLists, ...imageLists],
    );
  });
}
