/**
 * CPU time used by this process's descendants (user + system, from /proc/<pid>/stat), leaving out the
 * ones named in `exclude`. Under qemu TCG the guest competes with the servers for the host's cores, so
 * test/bench/boot-time.ts reports what the servers (relay, cloud, dnsmasq, the static server) burned
 * during each boot beside the stages the guest's CPU decides (firmware, kernel).
 *
 * Processes that started and ended between two readings are not counted (short `ip` commands).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime and stime in clock ticks: USER_HZ, 100 on every architecture Node runs on. */
const TICK_MS = 10;

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  cpuMs: number;
}

function readStat(pid: string): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces; the fields after it are space-separated.
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const f = text.slice(close + 2).split(' ');
    // After comm: state(0) ppid(1) … utime(11) stime(12).
    return { pid: Number(pid), ppid: Number(f[1]), comm, cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
  } catch {
    return null;
  }
}

/** ms of CPU used so far by the descendants of `root` (default: this process) whose comm is not excluded. */
export function descendantCpuMs(exclude: string[], root = process.pid): number {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(readStat)
    .filter((s): s is Stat => s !== null);
  const children = new Map<number, Stat[]>();
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  let total = 0;
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      if (!exclude.some((x) => c.comm.startsWith(x))) total += c.cpuMs;
      walk(c.pid);
    }
  };
  walk(root);
  return total;
}
