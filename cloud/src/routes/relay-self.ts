import { createRoute } from '@hono/zod-openapi';
import { Heartbeat, Relay } from '../../../shared/schemas/access.ts';
import type { Principal } from '../auth/principal.ts';
import { notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { body, errorResponses, json, router } from './openapi.ts';
import { getRelayRow, relayView, type RelayRow } from './relays.ts';

const tags = ['relay'];

/** The relay a relay token belongs to; auth/confine.ts has already kept other roles out. */
async function self(db: SqlDatabase, p: Principal): Promise<RelayRow> {
  const row = p.relayId === null ? null : await getRelayRow(db, p.relayId);
  if (!row) throw notFound('relay');
  return row;
}

/** Endpoints a relay calls with its own token. Mounted at /v1/relay. */
export function relaySelfRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/self',
        tags,
        summary: 'The calling relay (relay token)',
        responses: { 200: json(Relay), ...errorResponses },
      }),
      async (c) => c.json(await relayView(c.get('deps').db, await self(c.get('deps').db, c.get('principal')!)), 200),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/heartbeat',
        tags,
        summary: 'Report the relay alive, with its version, address and LANs (relay token); the answer carries its conflicts with sibling relays',
        request: { body: { required: false, content: { 'application/json': { schema: Heartbeat } } } },
        responses: { 200: json(Relay, "the relay as stored, with `conflicts`: the site's other relays whose LANs collide with the ones just reported"), ...errorResponses },
      }),
      async (c) => {
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const row = await self(db, c.get('principal')!);
        const next: RelayRow = {
          ...row,
          version: input.version ?? row.version,
          address: input.address ?? row.address,
          lans: input.lans === undefined ? (row.lans ?? null) : JSON.stringify(input.lans),
          last_seen_at: clock.now(),
        };
        // Telemetry, not a change made by a person: not audited (see auditRest).
        await db.batch([sql('UPDATE relays SET version = ?, address = ?, lans = ?, last_seen_at = ? WHERE id = ?', next.version, next.address, next.lans ?? null, next.last_seen_at, row.id)]);
        // Conflicts are read after the write, so the answer already weighs the LANs just reported.
        return c.json(await relayView(db, next), 200);
      },
    );
}
