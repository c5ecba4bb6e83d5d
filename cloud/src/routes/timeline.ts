import { createRoute, z } from '@hono/zod-openapi';
import { Timeline } from '../../../shared/schemas/boot-events.ts';
import { assertRead, siteScope } from '../auth/principal.ts';
import { groupTimeline, LEAD_MS, type BootRecord, type EventRecord } from '../boot/timeline.ts';
import { notFound } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { findMachine } from './machine-lookup.ts';
import { errorResponses, json, router } from './openapi.ts';

/** Events read per answer, newest first: a machine stuck in a PXE loop must not make the answer unbounded. */
const MAX_EVENTS = 2000;

const TimelineQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(50).default(10).meta({ description: 'the last N boots' }),
});

/** Mounted at /v1/machines. */
export function timelineRoutes() {
  return router().openapi(
    createRoute({
      method: 'get',
      path: '/{idOrMac}/timeline',
      tags: ['machines'],
      summary: "A machine's last boots: relay, cloud and installer events in time order, with stage durations and outcomes",
      request: { params: z.object({ idOrMac: z.string().min(1).max(64) }), query: TimelineQuery },
      responses: { 200: json(Timeline), ...errorResponses },
    }),
    async (c) => {
      const { idOrMac } = c.req.valid('param');
      const { limit } = c.req.valid('query');
      const { db, clock } = c.get('deps');
      const p = c.get('principal')!;
      const m = await findMachine(db, idOrMac);
      if (!m) throw notFound('machine');
      assertRead(p, m.site_id, 'machine');
      // Events are stored against the site whose relay saw them: a reader sees only its sites' view.
      const scope = siteScope(p, 'site_id');
      const boots = await db.all<BootRecord>(
        sql(
          `SELECT id, profile_id, state, progress, log_tail, callback_expires_at, created_at, updated_at FROM boots
            WHERE machine_id = ? AND ${scope.clause} ORDER BY created_at DESC, rowid DESC LIMIT ?`,
          m.id,
          ...scope.params,
          limit + 1,
        ),
      );
      const kept = boots.slice(0, limit).reverse();
      const since = boots.length > limit ? kept[0]!.created_at - LEAD_MS : 0;
      // Within one millisecond, insertion order (rowid) is the order things happened: ids are random there.
      const events = await db.all<EventRecord>(
        sql(
          `SELECT id, boot_id, source, stage, at, duration_ms, detail FROM boot_events
            WHERE mac = ? AND at >= ? AND ${scope.clause} ORDER BY at DESC, rowid DESC LIMIT ?`,
          m.mac,
          since,
          ...scope.params,
          MAX_EVENTS + 1,
        ),
      );
      const groups = groupTimeline(kept, events.slice(0, MAX_EVENTS).reverse(), clock.now());
      return c.json(
        {
          machineId: m.id,
          mac: m.mac,
          boots: groups.slice(0, limit),
          truncated: boots.length > limit || events.length > MAX_EVENTS || groups.length > limit,
        },
        200,
      );
    },
  );
}
