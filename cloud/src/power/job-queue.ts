import type { PowerAction, PowerJobReport } from '../../../shared/schemas/bmc.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../ports/sql-database.ts';

/**
 * The power-job queue, as a small port over SQL rows. The relay's long-poll does not poll it: it
 * waits on the sync hub's per-site jobs signal (sync/hub.ts `waitForJobs`), which enqueue raises,
 * and looks once with `hasQueued` when it starts waiting.
 */
export interface PowerJobQueue {
  /** Queues a job; `extra` statements (the audit row) commit with it. */
  enqueue(job: NewJob, extra: SqlStatement[]): Promise<void>;
  /** Up to `max` queued jobs of the site, oldest first, now marked running for this relay. */
  claim(siteId: string, relayId: string, max: number, now: number): Promise<PowerJobRow[]>;
  /** Whether the site has a queued job (the long-poll's one look before it waits). */
  hasQueued(siteId: string): Promise<boolean>;
  /** Records a relay's report; false when the job is not running for this relay (a replay, or not its job). */
  finish(id: string, relayId: string, report: PowerJobReport, now: number): Promise<boolean>;
  get(id: string): Promise<PowerJobRow | null>;
  /** Jobs past their deadline become expired (queued) or failed (taken, never reported); returns them. */
  expire(now: number, siteId?: string): Promise<PowerJobRow[]>;
}

export interface NewJob {
  id: string;
  machineId: string;
  siteId: string;
  action: PowerAction;
  createdAt: number;
  createdBy: string | null;
  deadlineAt: number;
}

export interface PowerJobRow {
  id: string;
  machine_id: string;
  site_id: string;
  action: PowerAction;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'expired';
  created_at: number;
  created_by: string | null;
  deadline_at: number;
  relay_id: string | null;
  claimed_at: number | null;
  finished_at: number | null;
  power_state: 'on' | 'off' | null;
  error: string | null;
  duration_ms: number | null;
  detail: string | null;
}

/** A relay that took a job reports within this (its BMC commands are bounded well below it). */
export const RUN_LIMIT_MS = 180_000;

export function sqlPowerJobQueue(db: SqlDatabase): PowerJobQueue {
  return {
    async enqueue(j, extra) {
      await db.batch([
        sql(
          'INSERT INTO power_jobs (id, machine_id, site_id, action, state, created_at, created_by, deadline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          j.id,
          j.machineId,
          j.siteId,
          j.action,
          'queued',
          j.createdAt,
          j.createdBy,
          j.deadlineAt,
        ),
        ...extra,
      ]);
    },
    async hasQueued(siteId) {
      return (await db.first(sql("SELECT 1 AS x FROM power_jobs WHERE site_id = ? AND state = 'queued' LIMIT 1", siteId))) !== null;
    },
    async claim(siteId, relayId, max, now) {
      const candidates = await db.all<{ id: string }>(
        sql("SELECT id FROM power_jobs WHERE site_id = ? AND state = 'queued' AND deadline_at > ? ORDER BY created_at, id LIMIT ?", siteId, now, max),
      );
      if (candidates.length === 0) return [];
      // One guarded UPDATE per job: two relays of a site polling at once never take the same job.
      const results = await db.batch(candidates.map((c) => sql("UPDATE power_jobs SET state = 'running', relay_id = ?, claimed_at = ? WHERE id = ? AND state = 'queued'", relayId, now, c.id)));
      const won = candidates.filter((_, i) => results[i]!.changes === 1).map((c) => c.id);
      if (won.length === 0) return [];
      return db.all<PowerJobRow>(sql('SELECT * FROM power_jobs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id', JSON.stringify(won)));
    },
    async finish(id, relayId, r, now) {
      const [res] = await db.batch([
        sql(
          "UPDATE power_jobs SET state = ?, finished_at = ?, power_state = ?, error = ?, duration_ms = ?, detail = ? WHERE id = ? AND relay_id = ? AND state = 'running'",
          r.ok ? 'succeeded' : 'failed',
          now,
          r.powerState ?? null,
          r.ok ? null : (r.error ?? 'failed'),
          r.durationMs,
          r.detail === undefined ? null : JSON.stringify(r.detail),
          id,
          relayId,
        ),
      ]);
      return res!.changes === 1;
    },
    async get(id) {
      return db.first<PowerJobRow>(sql('SELECT * FROM power_jobs WHERE id = ?', id));
    },
    async expire(now, siteId) {
      const bySite = siteId === undefined ? '' : ' AND site_id = ?';
      const params = siteId === undefined ? [] : [siteId];
      const stale = await db.all<PowerJobRow>(
        sql(`SELECT * FROM power_jobs WHERE ((state = 'queued' AND deadline_at <= ?) OR (state = 'running' AND claimed_at <= ?))${bySite} LIMIT 100`, now, now - RUN_LIMIT_MS, ...params),
      );
      const out: PowerJobRow[] = [];
      for (const j of stale) {
        const queued = j.state === 'queued';
        const error = queued
          ? `no relay of the site took the job before its deadline (${Math.round((j.deadline_at - j.created_at) / 1000)} s): the site's relay is offline or has no free slot`
          : `relay ${j.relay_id} took the job but did not report within ${RUN_LIMIT_MS / 1000} s`;
        const [res] = await db.batch([
          sql('UPDATE power_jobs SET state = ?, finished_at = ?, error = ? WHERE id = ? AND state = ?', queued ? 'expired' : 'failed', now, error, j.id, j.state),
        ]);
        if (res!.changes === 1) out.push({ ...j, state: queued ? 'expired' : 'failed', finished_at: now, error });
      }
      return out;
    },
  };
}
