/**
 * perfdhcp (Debian kea-admin) as the relay agent of a storm: run in the router's namespace with `-l
 * <giaddr>`, it sends each client's DISCOVER from <giaddr>:67 with giaddr = <giaddr> (what ISC dhcrelay
 * would forward) and takes the server's answers back on that address. `-x t` makes it print the send
 * and receive time of every exchange that completed, so the latency of each client is known, not only
 * perfdhcp's avg/max. Its CPU is sampled from /proc/<pid>/stat while it runs (it is gone, and its
 * figures with it, the moment it exits).
 */
import { readFileSync } from 'node:fs';
import { parsePerfdhcp, type Exchange } from '../lib/perfdhcp.ts';
import type { Spawned, Testbed } from '../../support/netns.ts';

const CLK_TCK = 100;

/** utime + stime of a live process, in seconds; null once it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** The last CPU figure seen of a process, polled every `everyMs` until stop(). */
export function sampleCpu(pid: number, everyMs = 20): { stop(): number } {
  let last = cpuSecondsOf(pid) ?? 0;
  const t = setInterval(() => (last = cpuSecondsOf(pid) ?? last), everyMs);
  return {
    stop() {
      clearInterval(t);
      last = cpuSecondsOf(pid) ?? last;
      return last;
    },
  };
}

export interface TimedRun {
  /** Per exchange name (`DISCOVER-OFFER`, `REQUEST-ACK`): perfdhcp's counters. */
  exchanges: Record<string, Exchange>;
  /** Per exchange name: the latency of every exchange that completed, ms. */
  latencies: Record<string, number[]>;
  /** Per exchange name: first send to last answer, ms (perfdhcp's clock). */
  spanMs: Record<string, number>;
  /** perfdhcp's own user+system CPU, seconds, and the wall time it ran. */
  cpuSeconds: number;
  wallSeconds: number;
  text: string;
}

/** `***Timestamps for packets: DISCOVER-OFFER***` then `sent / received: 000000.000055 / 000000.000184` lines. */
export function parseTimers(text: string): Record<string, Array<{ sent: number; received: number }>> {
  const out: Record<string, Array<{ sent: number; received: number }>> = {};
  let current: Array<{ sent: number; received: number }> | null = null;
  for (const line of text.split('\n')) {
    const h = /^\*\*\*Timestamps for packets: (\S+)\*\*\*/.exec(line);
    if (h) {
      current = out[h[1]!] = [];
      continue;
    }
    const m = /^sent \/ received: ([\d.]+) \/ ([\d.]+)/.exec(line);
    if (m && current) current.push({ sent: Number(m[1]) * 1000, received: Number(m[2]) * 1000 });
    else if (line.startsWith('***')) current = null;
  }
  return out;
}

/** What a PXE ROM on x86-64 UEFI sends (OVMF, FIELD-NOTES): 60 PXEClient, 93 = 7, 97 a GUID — as perfdhcp `-o code,hex`. */
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
export const PXE_OPTIONS = ['-o', `60,${hex('PXEClient:Arch:00007:UNDI:003016')}`, '-o', '93,0007', '-o', '97,000f8d2c4e5a6b4d7c8e9fa1b2c3d4e5f6'];

export interface StormArgs {
  /** The agent's address on the client segment: perfdhcp's -l, and giaddr. */
  giaddr: string;
  server: string;
  /** Only DISCOVER→OFFER (proxy offers) or the whole DORA (a burst is always sent as DORAs: see below). */
  initialOnly: boolean;
  rate: number;
  /** A burst of this many clients; else `rate` for `seconds`. */
  count?: number;
  seconds?: number;
  /** Base MAC (-b mac=…); -R 1,000,000 draws each exchange's MAC at random below it, so clients are all but surely distinct. */
  macBase: string;
  extra?: string[];
}

export async function timedPerfdhcp(bed: Testbed, ns: string, a: StormArgs): Promise<TimedRun> {
  // perfdhcp 2.2 refuses -n together with -i and -W ("Packets exchange not specified"), -p takes whole
  // seconds only, and preloaded (-P) exchanges are left out of its timers; without -W it stops listening
  // the moment the last request is out. So a burst is `-n count -W` *without* -i: perfdhcp REQUESTs what
  // it was offered. A proxy ignores those REQUESTs (they are for the address server), and the
  // DISCOVER→OFFER timers are what is read. -W keeps it listening 2.5 s more; it spins meanwhile.
  const amount = a.count ? ['-r', String(a.rate), '-n', String(a.count)] : ['-r', String(a.rate), '-p', String(a.seconds)];
  const args = ['-4', '-l', a.giaddr, ...(a.initialOnly && !a.count ? ['-i'] : []), ...PXE_OPTIONS, '-R', '1000000', '-b', `mac=${a.macBase}`, ...amount, '-W', '2500000', '-d', '2.5', '-x', 't', ...(a.extra ?? []), a.server];
  const t0 = performance.now();
  const p: Spawned = bed.spawn(ns, 'perfdhcp', args);
  const cpu = sampleCpu(p.pid);
  const { code } = await p.exited;
  const cpuSeconds = cpu.stop();
  const text = [...p.stdout, ...p.stderr].join('\n');
  // 0: every exchange completed; 3: some did not (a measurement, not an error).
  if (code !== 0 && code !== 3) throw new Error(`perfdhcp ${args.join(' ')} exited with ${code}:\n${text.slice(-2000)}`);
  const timers = Object.entries(parseTimers(text));
  const latencies = Object.fromEntries(timers.map(([k, ts]) => [k, ts.map((t) => t.received - t.sent)]));
  const spanMs = Object.fromEntries(timers.map(([k, ts]) => [k, ts.length ? Math.max(...ts.map((t) => t.received)) - Math.min(...ts.map((t) => t.sent)) : NaN]));
  return { exchanges: parsePerfdhcp(text).exchanges, latencies, spanMs, cpuSeconds, wallSeconds: (performance.now() - t0) / 1000, text };
}

/** The q-quantile (0..1) of xs (nearest rank); NaN for none. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function median(xs: number[]): number {
  return quantile(xs.filter((x) => Number.isFinite(x)), 0.5);
}
