import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { fastRelayEventBatch, RelayEventBatch, RelayEventResult, type RelayEvent } from '../../../shared/schemas/boot-events.ts';
import { noteSiteChange } from '../audit.ts';
import type { AppEnv } from '../context.ts';
import { sql } from '../ports/sql-database.ts';
import { body, errorResponses, json, router } from './openapi.ts';

const tags = ['relay'];

/**
 * Mounted at /v1/relay.
 *
 * Two handlers on one path. The first takes the common case cheaply: a JSON body that is a batch in
 * the canonical spelling relays send (fastRelayEventBatch, a tenth of zod's cost per event, which a
 * storm of unknown machines pays thousands of times a second). Anything it is not sure of — another
 * media type, malformed JSON, a refused or unusual event — falls through untouched to the documented
 * route, whose zod validation answers exactly as before (same statuses, codes and issues).
 */
export function relayEventRoutes() {
  const r = router();
  r.post('/events', async (c, next) => {
    if (c.req.header('content-type')?.split(';')[0]!.trim().toLowerCase() !== 'application/json') return next();
    let parsed: unknown;
    try {
      parsed = await c.req.json();
    } catch {
      return next();
    }
    const batch = fastRelayEventBatch(parsed);
    return batch ? store(c, batch.events) : next();
  });
  return r.openapi(
    createRoute({
      method: 'post',
      path: '/events',
      tags,
      summary: 'Report boot events seen on the LAN, up to 500 at a time; replays are ignored (relay token)',
      request: { body: body(RelayEventBatch) },
      responses: { 200: json(RelayEventResult), ...errorResponses },
    }),
    (c) => store(c, c.req.valid('json').events),
  );
}

async function store(c: Context<AppEnv>, events: readonly RelayEvent[]) {
  const p = c.get('principal')!;
  const relayId = p.relayId!;
  // Stored against the relay's site whoever owns the MAC: the relay saw it there, and a
  // machine's timeline only shows events of sites its reader may see.
  const siteId = p.siteIds![0]!;
  const rows = events.map((e) => [
    `${relayId}:${e.id}`,
    e.mac,
    e.stage,
    Date.parse(e.at),
    e.durationMs ?? null,
    e.bootId ?? null,
    e.detail === undefined ? null : JSON.stringify(e.detail),
  ]);
  // One statement for the whole batch: the rows travel as one JSON parameter (D1 allows 100
  // bound parameters per query), and the namespaced primary key makes a replay insert nothing.
  const insert = sql(
    `INSERT OR IGNORE INTO boot_events (id, mac, site_id, relay_id, boot_id, source, stage, at, duration_ms, detail)
     SELECT e.value ->> 0, e.value ->> 1, ?, ?, e.value ->> 5, 'relay', e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 6
     FROM json_each(?) AS e`,
    siteId,
    relayId,
    JSON.stringify(rows),
  );
  const failures = rows.filter((r) => r[2] === 'loader-failed');
  const now = c.get('deps').clock.now();
  const [result, failedMachines] = await c.get('deps').db.batch([insert, ...(failures.length > 0 ? loaderFailures(siteId, failures, now) : [])]);
  if (failedMachines && failedMachines.changes > 0) await noteFailedMachineSites(c, siteId, now);
  // Telemetry, not a change made by a person: not audited (see auditRest).
  const accepted = result?.changes ?? 0;
  return c.json({ accepted, duplicates: events.length - accepted }, 200);
}

/**
 * Machines a loader failure made `failed` may be decided differently (decideBoot reads the state):
 * their sites' relays hear of it (sync/), every site for a machine of none.
 */
async function noteFailedMachineSites(c: Context<AppEnv>, siteId: string, now: number): Promise<void> {
  const sites = await c.get('deps').db.all<{ site_id: string | null }>(
    sql("SELECT DISTINCT m.site_id FROM boots b JOIN machines m ON m.id = b.machine_id WHERE b.site_id = ? AND b.state = 'failed' AND b.updated_at = ?", siteId, now),
  );
  noteSiteChange(c, sites.map((r) => r.site_id));
}

/**
 * A boot loader that gave up (GRUB refused the kernel under Secure Boot, firmware refused shim) ends
 * that machine's boot: its latest unfinished boot at this site, rendered within the hour before the
 * report, becomes `failed` with the reason, and so does the machine, as a failed callback would make
 * them. Replays change nothing (the boot is no longer unfinished). Machines first: the boot's state is
 * what finds them.
 */
function loaderFailures(siteId: string, failures: unknown[][], now: number) {
  const latest = `SELECT (SELECT b.id FROM boots b JOIN machines m ON m.id = b.machine_id
                           WHERE m.mac = e.value ->> 1 AND b.site_id = ? AND b.state IN ('rendered', 'started')
                             AND b.created_at BETWEEN (e.value ->> 3) - 3600000 AND (e.value ->> 3) + 60000
                           ORDER BY b.created_at DESC LIMIT 1)
                    FROM json_each(?) AS e`;
  const rows = JSON.stringify(failures);
  return [
    sql(`UPDATE machines SET state = 'failed', updated_at = ? WHERE id IN (SELECT machine_id FROM boots WHERE id IN (${latest}))`, now, siteId, rows),
    sql(
      `UPDATE boots SET state = 'failed', updated_at = ?,
              log_tail = 'the boot loader gave up: ' || coalesce((SELECT json_extract(e.value ->> 6, '$.reason') FROM json_each(?) AS e JOIN machines m ON m.mac = e.value ->> 1 WHERE m.id = boots.machine_id LIMIT 1), 'unknown')
        WHERE id IN (${latest})`,
      now,
      rows,
      siteId,
      rows,
    ),
  ];
}
