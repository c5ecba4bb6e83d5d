/**
 * What the fleet benchmark reads while it runs: the control plane's database round trips and the
 * host's CPU (the machine is shared, so every figure comes with how busy the others were).
 */
import { readFileSync } from 'node:fs';
import { descendantCpuMs } from './host-cpu.ts';
import type { FleetTarget } from './fleet-runtimes.ts';

/** Sums every sample of one counter in a Prometheus text exposition (null: the family is absent). */
export function sumCounter(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export interface RoundTrips {
  /** `edgeboot_db_round_trips_total` of the process (Node) or the isolate that answered (workerd). */
  app: number;
  /**
   * Round trips made inside the sync Durable Objects (workerd), read from each shard's stats() or a
   * /metrics family if the control plane exposes one; null where there is none (before the per-site
   * sync; on Node, whose in-process hub counts apart and exposes nothing: see `statements`).
   */
  sync: number | null;
  /** Node: every SQL statement the entry process executed, hub included (null on workerd). */
  statements: number | null;
}

/** A /metrics family for the sync objects' round trips, should the control plane add one. */
const SYNC_FAMILY = 'edgeboot_sync_db_round_trips_total';

export async function readRoundTrips(t: FleetTarget): Promise<RoundTrips> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.adminToken}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 200)}`);
  const app = sumCounter(text, 'edgeboot_db_round_trips_total');
  if (app === null) throw new Error('/metrics has no edgeboot_db_round_trips_total: this control plane does not count round trips');
  const extra = await t.extra();
  return { app, sync: extra.syncRoundTrips ?? sumCounter(text, SYNC_FAMILY), statements: extra.sqliteStatements };
}

export const totalRoundTrips = (r: RoundTrips) => r.app + (r.sync ?? 0);

/** Host CPU: busy and total jiffies over all cores (/proc/stat), and this process tree's CPU time. */
export interface CpuMark {
  hostBusyMs: number;
  hostTotalMs: number;
  oursMs: number;
}

export function cpuMark(): CpuMark {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3]! + f[4]!;
  const own = process.cpuUsage();
  return { hostBusyMs: (total - idle) * 10, hostTotalMs: total * 10, oursMs: (own.user + own.system) / 1000 + descendantCpuMs([]) };
}

/** Busy share of the whole host, split into this benchmark (client + servers) and everyone else. */
export function cpuShare(a: CpuMark, b: CpuMark): { hostPct: number; oursPct: number; othersPct: number } {
  const total = b.hostTotalMs - a.hostTotalMs;
  const busy = b.hostBusyMs - a.hostBusyMs;
  const ours = b.oursMs - a.oursMs;
  const pct = (x: number) => (total > 0 ? (100 * x) / total : 0);
  return { hostPct: pct(busy), oursPct: pct(ours), othersPct: Math.max(0, pct(busy - ours)) };
}
