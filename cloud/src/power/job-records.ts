import type { PowerJob } from '../../../shared/schemas/bmc.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import type { PowerJobRow } from './job-queue.ts';

export const toPowerJob = (r: PowerJobRow): PowerJob => ({
  id: r.id,
  machineId: r.machine_id,
  siteId: r.site_id,
  action: r.action,
  state: r.state,
  createdAt: iso(r.created_at),
  deadlineAt: iso(r.deadline_at),
  relayId: r.relay_id,
  startedAt: iso(r.claimed_at),
  finishedAt: iso(r.finished_at),
  powerState: r.power_state,
  error: r.error,
  durationMs: r.duration_ms,
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
});

/**
 * The finished job as a `power-job` stage of the machine's timeline (boot_events, keyed by MAC like
 * every stage). Its id is the job's, so writing it twice inserts nothing.
 */
export function timelineRow(j: PowerJobRow, at: number): SqlStatement {
  const detail: Record<string, unknown> = { jobId: j.id, action: j.action, result: j.state };
  if (j.power_state) detail.powerState = j.power_state;
  if (j.error) detail.error = j.error.slice(0, 256);
  if (j.detail) Object.assign(detail, JSON.parse(j.detail));
  return sql(
    `INSERT OR IGNORE INTO boot_events (id, mac, site_id, relay_id, boot_id, source, stage, at, duration_ms, detail)
     SELECT ?, m.mac, ?, ?, NULL, ?, 'power-job', ?, ?, ? FROM machines m WHERE m.id = ?`,
    `power:${j.id}`,
    j.site_id,
    j.relay_id,
    j.relay_id === null ? 'cloud' : 'relay',
    // Placed when the BMC command started, so the stages after it (DHCP…) follow in time order.
    j.claimed_at ?? at,
    j.duration_ms,
    JSON.stringify(detail),
    j.machine_id,
  );
}

/** The job's outcome in the audit log: who ran it (the relay's token, or the cloud for an expiry), with what result. */
export function auditRow(j: PowerJobRow, at: number, actor: string, requestId: string): SqlStatement {
  const status = j.state === 'succeeded' ? 200 : j.state === 'expired' ? 504 : 502;
  return sql(
    'INSERT INTO audit_log (at, actor, action, target, site_id, result, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    at,
    actor,
    `power-job ${j.action} ${j.state}`,
    j.id,
    j.site_id,
    j.state === 'succeeded' ? 'ok' : j.state,
    status,
    requestId,
  );
}
