import { siteScope, type Principal } from '../auth/principal.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';

/**
 * The two aggregates of the overview that the API has no route for (counting machines through
 * paged lists would read the whole fleet). Read-only, and limited by `siteScope` exactly as the
 * API's machine list and timeline are, for the same principal.
 */

export interface StateCount {
  siteId: string | null;
  state: string;
  count: number;
}

export async function machineCounts(db: SqlDatabase, p: Principal): Promise<StateCount[]> {
  const scope = siteScope(p, 'site_id');
  const rows = await db.all<{ site_id: string | null; state: string; n: number }>(
    sql(`SELECT site_id, state, COUNT(*) AS n FROM machines WHERE ${scope.clause} GROUP BY site_id, state`, ...scope.params),
  );
  return rows.map((r) => ({ siteId: r.site_id, state: r.state, count: Number(r.n) }));
}

export interface Failure {
  bootId: string;
  machineId: string;
  mac: string;
  hostname: string | null;
  siteId: string;
  at: string;
  reason: string | null;
}

export async function recentFailures(db: SqlDatabase, p: Principal, limit = 10): Promise<Failure[]> {
  const scope = siteScope(p, 'b.site_id');
  const rows = await db.all<{ id: string; machine_id: string; mac: string; hostname: string | null; site_id: string; updated_at: number; detail: string | null }>(
    sql(
      `SELECT b.id, b.machine_id, m.mac, m.hostname, b.site_id, b.updated_at,
              (SELECT e.detail FROM boot_events e WHERE e.mac = m.mac AND e.boot_id = b.id AND e.stage = 'callback-failed' LIMIT 1) AS detail
         FROM boots b JOIN machines m ON m.id = b.machine_id
        WHERE b.state = 'failed' AND ${scope.clause} ORDER BY b.updated_at DESC LIMIT ?`,
      ...scope.params,
      limit,
    ),
  );
  return rows.map((r) => ({
    bootId: r.id,
    machineId: r.machine_id,
    mac: r.mac,
    hostname: r.hostname,
    siteId: r.site_id,
    at: iso(r.updated_at),
    reason: reasonOf(r.detail),
  }));
}

function reasonOf(detail: string | null): string | null {
  if (!detail) return null;
  try {
    const d = JSON.parse(detail) as { reason?: unknown };
    return typeof d.reason === 'string' ? d.reason : null;
  } catch {
    return null;
  }
}
