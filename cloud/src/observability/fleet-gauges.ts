import { newId } from '../../../shared/ids.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import type { Family, Sample } from './prometheus.ts';

/** Relays heartbeat every minute: three missed beats and a relay is stale (as the console's relay health). */
export const RELAY_ONLINE_MS = 3 * 60_000;
const MINUTE_MS = 60_000;

/**
 * The lower bound of the ids of `kind` made since `sinceMs`: ids start with their creation time
 * (shared/ids.ts), so "the last minute of boot events" is a range of the primary key, not a scan.
 */
function idsSince(kind: 'event', sinceMs: number): string {
  const id = newId(kind, sinceMs);
  return id.slice(0, id.indexOf('_') + 11);
}

/**
 * The fleet's state, read from the database at scrape time: one query per family, each bounded by
 * an index or by the size of a small table, run side by side (on D1 each is one round trip).
 * Counts are global (the database is), whichever runtime or isolate answers the scrape.
 */
export async function fleetGauges(db: SqlDatabase, now: number): Promise<Family[]> {
  const [relays, answers, failed, jobs, deliveries] = await Promise.all([
    // The relays table: one row per relay, a few thousand at most.
    db.all<{ site_id: string; id: string; last_seen_at: number | null }>(sql('SELECT site_id, id, last_seen_at FROM relays WHERE revoked_at IS NULL')),
    // The primary key's range of the last minute's events; the script answers among them.
    db.all<{ outcome: string | null; n: number }>(
      sql(
        "SELECT json_extract(detail, '$.decision') AS outcome, count(*) AS n FROM boot_events WHERE id >= ? AND id < 'evt_~' AND stage = 'script-rendered' GROUP BY outcome",
        idsSince('event', now - MINUTE_MS),
      ),
    ),
    // boots_failed: a partial index of failed boots by updated_at.
    db.first<{ n: number }>(sql("SELECT count(*) AS n FROM boots WHERE state = 'failed' AND updated_at >= ?", now - MINUTE_MS)),
    // Per site and state, a count within power_jobs_site_state (site_id, state, …): the cost grows
    // with sites and waiting jobs, not with the finished jobs the table keeps.
    db.all<{ site_id: string; state: string; n: number }>(
      sql(
        "SELECT s.id AS site_id, q.state, (SELECT count(*) FROM power_jobs j WHERE j.site_id = s.id AND j.state = q.state) AS n FROM sites s, (SELECT 'queued' AS state UNION ALL SELECT 'running') q",
      ),
    ),
    // webhook_deliveries_due (state, next_attempt_at): three ranges of the index.
    db.all<{ state: string; n: number }>(sql("SELECT state, count(*) AS n FROM webhook_deliveries WHERE state IN ('pending', 'delivering', 'failed') GROUP BY state")),
  ]);

  const perSite = new Map<string, { online: number; stale: number; never: number }>();
  const age: Sample[] = [];
  for (const r of relays) {
    let s = perSite.get(r.site_id);
    if (!s) perSite.set(r.site_id, (s = { online: 0, stale: 0, never: 0 }));
    if (r.last_seen_at === null) {
      s.never++;
      continue;
    }
    s[now - r.last_seen_at <= RELAY_ONLINE_MS ? 'online' : 'stale']++;
    age.push({ labels: { site: r.site_id, relay: r.id }, value: Math.max(0, (now - r.last_seen_at) / 1000) });
  }
  const relayStates: Sample[] = [];
  for (const [site, s] of perSite) for (const state of ['online', 'stale', 'never'] as const) relayStates.push({ labels: { site, state }, value: s[state] });

  return [
    {
      name: 'edgeboot_relays',
      type: 'gauge',
      help: `Enrolled, unrevoked relays by site and health: online (heard within ${RELAY_ONLINE_MS / 1000} s), stale, or never heard from.`,
      samples: relayStates,
    },
    {
      name: 'edgeboot_relay_last_seen_age_seconds',
      type: 'gauge',
      help: "Seconds since each relay was last heard (its heartbeat, once a minute while its sync loop runs): the bound on how far behind the site's snapshot it may be.",
      samples: age,
    },
    {
      name: 'edgeboot_boot_answers_last_minute',
      type: 'gauge',
      help: 'Boot scripts the cloud answered in the last 60 s, by outcome (boot: an install was rendered; menu: a boot menu; local: the local disk).',
      samples: answers.map((a) => ({ labels: { outcome: a.outcome ?? 'unknown' }, value: a.n })),
    },
    {
      name: 'edgeboot_boots_failed_last_minute',
      type: 'gauge',
      help: 'Boots that turned failed in the last 60 s (an installer or loader reported failure).',
      samples: [{ value: failed?.n ?? 0 }],
    },
    {
      name: 'edgeboot_power_jobs',
      type: 'gauge',
      help: 'Power jobs waiting for a relay (queued) or being run by one (running), by site (zero included).',
      samples: jobs.map((j) => ({ labels: { site: j.site_id, state: j.state }, value: j.n })),
    },
    {
      name: 'edgeboot_webhook_deliveries',
      type: 'gauge',
      help: 'Webhook deliveries not yet delivered (pending, delivering) and given up (failed, kept for the log), by state.',
      samples: ['pending', 'delivering', 'failed'].map((state) => ({ labels: { state }, value: deliveries.find((d) => d.state === state)?.n ?? 0 })),
    },
  ];
}
