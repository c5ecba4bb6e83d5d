/**
 * Top frames of a V8 .cpuprofile (node --cpu-prof) by self and by total time, as a table: what
 * test/bench/dhcp.ts's `--relay-node-flags="--cpu-prof --cpu-prof-dir=DIR"` leaves behind, read
 * without a browser. Frames are merged by function name + file:line; "total" counts a frame once per
 * sample however deep it recurses.
 *
 *   node test/bench/support/dhcp-cpuprofile.ts FILE.cpuprofile [--top 20]
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

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true });
  for (const f of positionals) printTop(f, Number(values.top));
}
