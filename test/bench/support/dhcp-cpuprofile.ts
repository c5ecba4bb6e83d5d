/**
 * Top frames of a V8 .cpuprofile (node --cpu-prof) by self and by total time, as a table: what
 * test/bench/dhcp.ts's `--relay-node-flags="--cpu-prof --cpu-prof-dir=DIR"` leaves behind, read
 * without a browser. Frames are merged by function name + file:line; "total" counts a frame once per
 * sample however deep it recurses.
 *
 * `--stalls MS`: also the loop's long tasks — runs of consecutive busy samples (no `(idle)` between)
 * lasting at least MS — with when they started, how long they ran and the frames they spent it in:
 * what delays a packet that arrives during one. A run's wall time includes any time the thread was
 * runnable but descheduled (another process on its core), so compare it with its sample count.
 *
 *   node test/bench/support/dhcp-cpuprofile.ts FILE.cpuprofile [--top 20] [--stalls 2]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameRow {
  frame: string;
  selfMs: number;
  totalMs: number;
}

export function topFrames(p: Profile): { rows: FrameRow[]; totalMs: number; idleMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: Node) => {
    const f = n.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(p.samples[i]!)!;
    totalMs += ms;
    if (leaf.callFrame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const l = label(leaf);
    self.set(l, (self.get(l) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id)!);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + ms);
    }
  }
  const rows = [...self.keys(), ...[...total.keys()].filter((k) => !self.has(k))].map((frame) => ({ frame, selfMs: self.get(frame) ?? 0, totalMs: total.get(frame) ?? 0 }));
  return { rows, totalMs, idleMs };
}

export function printTop(file: string, top = 20): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const { rows, totalMs, idleMs } = topFrames(p);
  const busy = totalMs - idleMs;
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`;
  console.log(`${basename(file)}: ${(totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (${((busy / totalMs) * 100).toFixed(0)}%)`);
  console.log(`  top ${top} by self time (share of busy time)                               self      total`);
  for (const r of [...rows].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) console.log(`  ${r.frame.slice(0, 70).padEnd(70)} ${pct(r.selfMs).padStart(7)}  ${pct(r.totalMs).padStart(7)}`);
  console.log(`  top ${top} by total time`);
  for (const r of [...rows].filter((r) => !r.frame.startsWith('(')).sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) console.log(`  ${r.frame.slice(0, 70).padEnd(70)} ${pct(r.selfMs).padStart(7)}  ${pct(r.totalMs).padStart(7)}`);
}

export interface Stall {
  startMs: number;
  wallMs: number;
  samples: number;
  /** Frames by total time within the run (the run's own stack), largest first. */
  frames: Array<{ frame: string; ms: number }>;
}

/** Runs of consecutive non-idle samples of at least `minMs` wall time, in order. */
export function stalls(p: Profile, minMs: number): Stall[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: Node) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}${f.url ? ` ${basename(f.url)}:${f.lineNumber + 1}` : ''}`;
  };
  const out: Stall[] = [];
  let t = p.startTime;
  let run: { start: number; end: number; samples: number; total: Map<string, number> } | null = null;
  const close = () => {
    if (run && (run.end - run.start) / 1000 >= minMs) {
      const frames = [...run.total].map(([frame, ms]) => ({ frame, ms })).filter((f) => !f.frame.startsWith('(root)')).sort((a, b) => b.ms - a.ms);
      out.push({ startMs: (run.start - p.startTime) / 1000, wallMs: (run.end - run.start) / 1000, samples: run.samples, frames });
    }
    run = null;
  };
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const leaf = byId.get(p.samples[i]!)!;
    if (leaf.callFrame.functionName === '(idle)') {
      close();
      continue;
    }
    run ??= { start: t, end: t, samples: 0, total: new Map() };
    run.end = t + ms * 1000;
    run.samples++;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id)!);
      if (seen.has(name)) continue;
      seen.add(name);
      run.total.set(name, (run.total.get(name) ?? 0) + ms);
    }
  }
  close();
  return out;
}

export function printStalls(file: string, minMs: number, show = 15): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const all = stalls(p, minMs);
  const span = (p.endTime - p.startTime) / 1e6;
  console.log(`${basename(file)}: ${all.length} busy runs of ≥ ${minMs} ms in ${span.toFixed(1)} s (${(all.length / span).toFixed(2)}/s), ${all.reduce((s, x) => s + x.wallMs, 0).toFixed(0)} ms in all; longest first:`);
  for (const s of [...all].sort((a, b) => b.wallMs - a.wallMs).slice(0, show)) {
    const inner = s.frames.filter((f) => !/^(processTicksAndRejections|runMicrotasks|listOnTimeout|processTimers|processImmediate|\(program\))/.test(f.frame));
    console.log(`  at ${(s.startMs / 1000).toFixed(3)} s: ${s.wallMs.toFixed(1)} ms (${s.samples} samples)  ${inner.slice(0, 6).map((f) => `${f.frame} ${f.ms.toFixed(1)}`).join(' · ')}`);
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' }, stalls: { type: 'string' } }, allowPositionals: true });
  for (const f of positionals) {
    printTop(f, Number(values.top));
    if (values.stalls) printStalls(f, Number(values.stalls));
  }
}
