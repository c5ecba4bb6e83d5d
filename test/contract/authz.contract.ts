/**
 * The authorization matrix over the whole API: the rows of every resource, run by authz/matrix.ts.
 * Adding a route means adding its row here (a route without a row is not covered).
 */
import { describe } from 'vitest';
import { accessRows } from './authz/access-rows.ts';
import { assignmentRows, machineRows, profileRows } from './authz/fleet-rows.ts';
import { imageRows } from './authz/image-rows.ts';
import { authzMatrix, type Row } from './authz/matrix.ts';
import type { ApiTarget } from './target.ts';

export const ALL_ROWS: Row[] = [...accessRows, ...machineRows, ...profileRows, ...assignmentRows, ...imageRows];

export function authzContract(target: () => ApiTarget): void {
  describe('authorization matrix', () => {
    authzMatrix(target, ALL_ROWS);
  });
}
