/**
 * The authorization matrix over the whole API: the rows of every resource, run by authz/matrix.ts.
 * Adding a route means adding its row here (a route without a row is not covered).
 */
import { describe, expect, it } from 'vitest';
import { accessRows } from './authz/access-rows.ts';
import { bootRows } from './authz/boot-rows.ts';
import { assignmentRows, machineRows, profileRows } from './authz/fleet-rows.ts';
import { fileRows } from './authz/file-rows.ts';
import { imageRows } from './authz/image-rows.ts';
import { observabilityRows } from './authz/observability-rows.ts';
import { authzMatrix, type Row } from './authz/matrix.ts';
import { powerRows } from './authz/power-rows.ts';
import { releaseRows } from './authz/release-rows.ts';
import { telemetryRows } from './authz/telemetry-rows.ts';
import { webhookRows } from './authz/webhook-rows.ts';
import { inventoryRows } from './authz/inventory-rows.ts';
import { syncRows } from './authz/sync-rows.ts';
import { call, type ApiTarget } from './target.ts';

export const ALL_ROWS: Row[] = [...accessRows, ...machineRows, ...profileRows, ...assignmentRows, ...imageRows, ...bootRows, ...fileRows, ...telemetryRows, ...releaseRows, ...powerRows, ...webhookRows, ...inventoryRows, ...observabilityRows, ...syncRows];

export function authzContract(target: () => ApiTarget): void {
  describe('authorization matrix', () => {
    it('has a row for every operation of the OpenAPI document', async () => {
      const covered = new Set(ALL_ROWS.map((r) => operationKey(r.route)));
      expect(openApiOperations(await openApi(target()), () => true).filter((op) => !covered.has(op))).toEqual([]);
    });
    authzMatrix(target, ALL_ROWS);
  });
}

type OpenApiDoc = { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>> };

export async function openApi(t: ApiTarget): Promise<OpenApiDoc> {
  const r = await call(t, 'GET', '/openapi.json', { token: null });
  expect(r.status).toBe(200);
  return r.body;
}

/** `PATCH /v1/machines/{idOrMac}` and the row `PATCH /v1/machines/{id} (move…)` both become `PATCH /v1/machines/{}`. */
export function operationKey(route: string): string {
  return route.replace(/ \(.*\)$/, '').replace(/\{[^}]*\}/g, '{}');
}

export function openApiOperations(doc: OpenApiDoc, keep: (op: { requestBody?: { content?: Record<string, unknown> } }) => boolean): string[] {
  const ops: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) if (keep(op)) ops.push(operationKey(`${method.toUpperCase()} ${path}`));
  }
  return ops;
}
