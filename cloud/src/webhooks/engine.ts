import type { Clock } from '../ports/clock.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import type { WebhookTransport } from '../ports/webhook-transport.ts';
import { iso } from '../time.ts';
import { signatureHeaders } from './signature.ts';
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts';

/**
 * Delivery from the outbox (migration 0009's webhook_deliveries), the same on every runtime; what
 * differs is who calls it: a loop in process (in-process.ts) or a Durable Object's alarm (Workers).
 *
 * At least once: a delivery is claimed with a lease (a guarded UPDATE, so two runners never take
 * the same one), POSTed, and its outcome written with the attempt. A runner that dies mid-POST
 * leaves the lease to expire and the delivery is tried again; receivers de-duplicate on webhook-id.
 * One delivery per webhook at a time, at most `maxConcurrent` in all: a slow receiver holds one
 * slot for at most `timeoutMs` and never delays another webhook's deliveries.
 */

export interface EngineSettings {
  /** Waits before each retry; a delivery that fails once more than there are entries has failed. */
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  maxResponseBytes: number;
  maxConcurrent: number;
  /** A relay unheard of for this long is offline (three missed one-minute heartbeats, as the console's relay health). */
  relayOfflineAfterMs: number;
  /** Finished deliveries are kept this long for the log. */
  retentionMs: number;
}

export const MAX_EVENT_BODY = 64 * 1024;

/**
 * Retries after 10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40 min, 2 h and 6 h (×3 each, capped): nine
 * attempts over about nine hours, enough to ride out a receiver's deployment or a night's outage.
 * `firstRetryMs` scales the whole ladder (EDGEBOOT_WEBHOOK_FIRST_RETRY_MS, for tests and impatient set-ups).
 */
export function engineSettings(o: { firstRetryMs?: number } = {}): EngineSettings {
  const first = o.firstRetryMs ?? 10_000;
  return {
    retryDelaysMs: Array.from({ length: 8 }, (_, i) => Math.min(first * 3 ** i, 6 * 3600_000)),
    timeoutMs: 10_000,
    maxResponseBytes: 4096,
    maxConcurrent: 8,
    relayOfflineAfterMs: 3 * 60_000,
    retentionMs: 30 * 24 * 3600_000,
  };
}

export interface EngineDeps {
  db: SqlDatabase;
  clock: Clock;
  transport: WebhookTransport;
  policy: WebhookUrlPolicy;
  settings: EngineSettings;
}

export interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  site_id: string | null;
  data: string;
  occurred_at: number;
  attempts: number;
  url: string;
  secret: string;
}

/** The receiver's view of one event: the body every attempt sends. */
export function eventBody(d: Pick<ClaimedDelivery, 'event_id' | 'event_type' | 'occurred_at' | 'site_id' | 'data'>): string {
  return JSON.stringify({ id: d.event_id, type: d.event_type, occurredAt: iso(d.occurred_at), siteId: d.site_id, data: JSON.parse(d.data) as unknown });
}

/**
 * Housekeeping before a round: expired leases back to pending, relays unheard of for too long
 * marked offline (a trigger writes their relay.offline deliveries in the same statement), and old
 * finished deliveries dropped.
 */
export async function maintain(deps: Pick<EngineDeps, 'db' | 'clock' | 'settings'>): Promise<void> {
  const now = deps.clock.now();
  await deps.db.batch([
    sql("UPDATE webhook_deliveries SET state = 'pending', lease_until = NULL WHERE state = 'delivering' AND lease_until <= ?", now),
    sql(
      'UPDATE webhook_relay_presence SET online = 0, changed_at = ? WHERE online = 1 AND relay_id IN (SELECT id FROM relays WHERE last_seen_at IS NULL OR last_seen_at < ?)',
      now,
      now - deps.settings.relayOfflineAfterMs,
    ),
    sql("DELETE FROM webhook_deliveries WHERE state IN ('succeeded', 'failed') AND finished_at < ?", now - deps.settings.retentionMs),
  ]);
}

/**
 * Takes up to `max` due deliveries, the oldest of each webhook that has none in flight (in the
 * database, or in `busy`: this runner's own), and leases them.
 */
export async function claimDue(deps: Pick<EngineDeps, 'db' | 'clock' | 'settings'>, max: number, busy: ReadonlySet<string> = new Set()): Promise<ClaimedDelivery[]> {
  if (max <= 0) return [];
  const now = deps.clock.now();
  const due = await deps.db.all<ClaimedDelivery>(
    sql(
      `SELECT d.id, d.webhook_id, d.event_id, d.event_type, d.site_id, d.data, d.occurred_at, d.attempts, w.url, w.secret
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= ?
          AND d.webhook_id NOT IN (SELECT webhook_id FROM webhook_deliveries WHERE state = 'delivering')
        ORDER BY d.next_attempt_at, d.id LIMIT 200`,
      now,
    ),
  );
  const picked: ClaimedDelivery[] = [];
  const hooks = new Set(busy);
  for (const d of due) {
    if (picked.length >= max) break;
    if (hooks.has(d.webhook_id)) continue;
    hooks.add(d.webhook_id);
    picked.push(d);
  }
  if (picked.length === 0) return [];
  const lease = now + deps.settings.timeoutMs + 5_000;
  const results = await deps.db.batch(picked.map((d) => sql("UPDATE webhook_deliveries SET state = 'delivering', lease_until = ? WHERE id = ? AND state = 'pending'", lease, d.id)));
  return picked.filter((_, i) => results[i]!.changes === 1);
}

/** One attempt of a claimed delivery, and its outcome written with the attempt's log row. */
export async function attempt(deps: EngineDeps, d: ClaimedDelivery): Promise<'succeeded' | 'retry' | 'failed'> {
  const started = deps.clock.now();
  const body = eventBody(d);
  const n = d.attempts + 1;
  let status: number | null = null;
  let error: string | null = null;
  let response: string | null = null;
  const checked = checkWebhookUrl(d.url, deps.policy);
  if (!checked.ok) {
    error = `refused: ${checked.reason}`;
  } else if (body.length > MAX_EVENT_BODY) {
    error = `event body of ${body.length} bytes is over ${MAX_EVENT_BODY}`;
  } else {
    const headers = {
      ...(await signatureHeaders(d.secret, d.event_id, Math.floor(started / 1000), body)),
      'content-type': 'application/json',
      'user-agent': 'edgeboot-webhooks/1',
      'edgeboot-event': d.event_type,
      'edgeboot-delivery': d.id,
    };
    const r = await deps.transport.post({ url: d.url, headers, body, timeoutMs: deps.settings.timeoutMs, maxResponseBytes: deps.settings.maxResponseBytes, policy: deps.policy });
    if (r.ok) {
      status = r.status;
      response = r.response;
      if (status < 200 || status > 299) error = `receiver answered ${status}`;
    } else {
      error = r.error;
    }
  }
  const now = deps.clock.now();
  const outcome = error === null ? 'succeeded' : n > deps.settings.retryDelaysMs.length ? 'failed' : 'retry';
  // Up to a fifth more than the ladder says, so receivers that failed together are not retried together.
  const delay = outcome === 'retry' ? Math.round(deps.settings.retryDelaysMs[n - 1]! * (1 + Math.random() * 0.2)) : 0;
  await deps.db.batch([
    sql(
      `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, last_status = ?, last_error = ?, finished_at = ?
        WHERE id = ? AND state = 'delivering'`,
      outcome === 'retry' ? 'pending' : outcome,
      n,
      outcome === 'retry' ? now + delay : now,
      status,
      error === null ? null : error.slice(0, 512),
      outcome === 'retry' ? null : now,
      d.id,
    ),
    // The webhook may have been deleted meanwhile (its deliveries with it): then nothing to log.
    sql(
      'INSERT OR IGNORE INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms, response) SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)',
      d.id,
      n,
      started,
      status,
      error === null ? null : error.slice(0, 512),
      Math.max(0, now - started),
      response,
      d.id,
    ),
  ]);
  return outcome;
}

/** When the next pending delivery falls due (ms), or null: a Durable Object sets its alarm there. */
export async function nextDueAt(db: SqlDatabase): Promise<number | null> {
  const row = await db.first<{ at: number | null }>(sql("SELECT min(next_attempt_at) AS at FROM webhook_deliveries WHERE state = 'pending'"));
  return row?.at ?? null;
}

/** Whether any relay is known online while someone listens for relay.offline: the sweep must keep running. */
export async function offlineSweepNeeded(db: SqlDatabase): Promise<boolean> {
  const row = await db.first(
    sql(
      "SELECT 1 AS x FROM webhook_relay_presence p WHERE p.online = 1 AND EXISTS (SELECT 1 FROM webhooks w, json_each(w.events) e WHERE e.value = 'relay.offline') LIMIT 1",
    ),
  );
  return row !== null;
}

/**
 * Maintenance, then every due delivery, until none is left: what one alarm does. A pool, as in
 * process: a finished delivery frees its slot at once, so a receiver that hangs until the deadline
 * holds one slot and never the others' deliveries.
 */
export async function runRound(deps: EngineDeps): Promise<number> {
  await maintain(deps);
  const inFlight = new Map<string, Promise<string>>();
  let done = 0;
  for (;;) {
    const claimed = await claimDue(deps, deps.settings.maxConcurrent - inFlight.size, new Set(inFlight.keys()));
    for (const d of claimed) {
      const settled = attempt(deps, d).then(
        () => d.webhook_id,
        (err: unknown) => {
          // The database failed under it: the lease runs out and the delivery is tried again.
          console.error(JSON.stringify({ level: 'error', msg: 'webhook delivery', delivery: d.id, error: String(err) }));
          return d.webhook_id;
        },
      );
      inFlight.set(d.webhook_id, settled);
    }
    if (inFlight.size === 0) return done;
    inFlight.delete(await Promise.race(inFlight.values()));
    done++;
  }
}
