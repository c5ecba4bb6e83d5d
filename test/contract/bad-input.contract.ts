/**
 * The bad-input suite over the whole API: each resource's endpoints, run by bad-input/suite.ts.
 * Adding a POST/PATCH, an id route or a list means adding it to these tables.
 */
import { describe, expect, it } from 'vitest';
import { openApi, openApiOperations, operationKey } from './authz.contract.ts';
import { accessEndpoints, accessIds, accessLists } from './bad-input/access.ts';
import { bootIds, bootLists, bootQueryInputContract } from './bad-input/boot.ts';
import { fleetEndpoints, fleetIds, fleetLists } from './bad-input/fleet.ts';
import { fileEndpoints, fileIds, fileLists } from './bad-input/files.ts';
import { imageEndpoints, imageIds, imageLists } from './bad-input/images.ts';
import { powerEndpoints } from './bad-input/power.ts';
import { releaseEndpoints } from './bad-input/releases.ts';
import { badInputSuite } from './bad-input/suite.ts';
import { telemetryEndpoints, telemetryIds, telemetryLists } from './bad-input/telemetry.ts';
import { webhookEndpoints, webhookIds, webhookLists } from './bad-input/webhooks.ts';
import { inventoryEndpoints, inventoryLists } from './bad-input/inventory.ts';
import type { ApiTarget } from './target.ts';

const endpoints = [...accessEndpoints, ...fleetEndpoints, ...imageEndpoints, ...fileEndpoints, ...telemetryEndpoints, ...releaseEndpoints, ...powerEndpoints, ...webhookEndpoints, ...inventoryEndpoints];

export function badInputContract(target: () => ApiTarget): void {
  describe('bad input', () => {
    it('covers every operation of the OpenAPI document that takes a JSON body', async () => {
      const covered = new Set(endpoints.map((e) => operationKey(e.route)));
      const json = openApiOperations(await openApi(target()), (op) => op.requestBody?.content?.['application/json'] !== undefined);
      expect(json.filter((op) => !covered.has(op))).toEqual([]);
    });
    badInputSuite(
      target,
      endpoints,
      [...accessIds, ...fleetIds, ...imageIds, ...bootIds, ...fileIds, ...telemetryIds, ...webhookIds],
      [...accessLists, ...fleetLists, ...imageLists, ...bootLists, ...fileLists, ...telemetryLists, ...webhookLists, ...inventoryLists],
    );
    bootQueryInputContract(target);
  });
}
