/**
 * Garbage collections of a benchmarked Node process, counted from inside it: `preload(dir)` writes a
 * module for `node --import=<it>` that observes V8's GC entries (perf_hooks) and rewrites
 * `<dir>/gc-<pid>.json` with running totals every 250 ms (one small file write, off the packet path);
 * `read(dir, pid)` reads them, and `delta` is what a step cost. bench:dhcp's `--gc` uses it to say how
 * much of a relay's step went to collection and how long the longest pause was.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GcKind {
  count: number;
  ms: number;
}
export interface GcTotals {
  young: GcKind;
  old: GcKind;
  incremental: GcKind;
  /** Pauses of at least LONG_MS: [epoch ms at their start, duration ms, kind], the latest 1,000. */
  long: Array<[number, number, string]>;
}
/** Pauses this long or longer are kept one by one, so a step can name its longest. */
export const LONG_MS = 2;

const SOURCE = `
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
const file = new URL('gc-' + process.pid + '.json', import.meta.url);
const zero = () => ({ count: 0, ms: 0 });
const t = { young: zero(), old: zero(), incremental: zero(), long: [] };
const kind = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'young', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'old', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const name = kind[e.detail?.kind];
    if (!name) continue;
    t[name].count++;
    t[name].ms += e.duration;
    if (e.duration >= ${LONG_MS}) {
      t.long.push([performance.timeOrigin + e.startTime, e.duration, name]);
      if (t.long.length > 1000) t.long.shift();
    }
  }
}).observe({ entryTypes: ['gc'] });
setInterval(() => writeFileSync(file, JSON.stringify(t)), 250).unref();
`;

/** Writes the preload into `dir` (which must end up holding the counts) and returns its path. */
export function preload(dir: string): string {
  const path = join(dir, 'gc-counters.mjs');
  writeFileSync(path, SOURCE);
  return path;
}

export function read(dir: string, pid: number): GcTotals | null {
  try {
    return JSON.parse(readFileSync(join(dir, `gc-${pid}.json`), 'utf8')) as GcTotals;
  } catch {
    return null;
  }
}

export interface GcStep {
  young: GcKind;
  old: GcKind;
  incremental: GcKind;
  /** The longest pause that started in [from, to] (epoch ms), if one reached LONG_MS; else 0. */
  longestMs: number;
  /** Pauses of LONG_MS or more in the window. */
  longCount: number;
}

/** What a step cost: the counts between two readings, and the long pauses that started within [from, to]. */
export function delta(before: GcTotals | null, after: GcTotals | null, from: number, to: number): GcStep | null {
  if (!before || !after) return null;
  const d = (a: GcKind, b: GcKind): GcKind => ({ count: b.count - a.count, ms: b.ms - a.ms });
  const long = after.long.filter(([at]) => at >= from && at <= to);
  return { young: d(before.young, after.young), old: d(before.old, after.old), incremental: d(before.incremental, after.incremental), longestMs: Math.max(0, ...long.map(([, ms]) => ms)), longCount: long.length };
}
