/**
 * Benchmark (not a test): what the DHCP codec costs per packet (issue 18), against the named reference, a
 * trivial codec in this file that only reads the header and option 53 and writes a fixed-layout OFFER —
 * the floor any codec that answers must pay. The ratios codec/trivial are the codec's own cost.
 *
 * Work measured, on the captured packets of test/relay/dhcp/fixtures:
 *   decode DISCOVER   decodeDhcp(OVMF's PXE DISCOVER) and reading its message type
 *   encode OFFER      encodeDhcp(dnsmasq's proxy OFFER to OVMF, decoded once beforehand)
 *   decode + encode   both, as the socket loop does per answered request
 *
 * `--baseline REV` also measures the codec of git revision REV (its relay/src/dhcp/codec.ts and options.ts,
 * extracted to a temp dir) in the same run, interleaved round by round with the current one, so the
 * before/after ratio is not bent by the machine's other load.
 *
 *   node test/bench/dhcp-codec.ts [--baseline REV] [--rounds 9] [--ms 300]
 *
 * Each figure is the median of the rounds; the spread (min–max) is printed beside it: a wide one means
 * the cores were busy with other work, compare within one run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as current from '../../relay/src/dhcp/codec.ts';

const { values } = parseArgs({ options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '9' }, ms: { type: 'string', default: '300' } } });
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values.ms);

interface Codec {
  decodeDhcp(b: Uint8Array): { options: Array<{ code: number; data: Uint8Array }> };
  encodeDhcp(p: never): Uint8Array;
}

const FIXTURES = join(import.meta.dirname, '..', 'relay', 'dhcp', 'fixtures');
const fixture = (name: string) => Uint8Array.from(readFileSync(join(FIXTURES, `${name}.hex`), 'utf8').replace(/\s+/g, '').match(/../g)!, (h) => parseInt(h, 16));
const DISCOVER = fixture('ovmf-discover');
const OFFER_BYTES = fixture('dnsmasq-proxy-offer-to-ovmf');

// ── the reference: a trivial codec ──────────────────────────────────────────────────────────────────
/** Header fields and option 53, nothing else checked or kept. */
function trivialDecode(b: Uint8Array): { xid: number; type: number; chaddr: Uint8Array } {
  if (b.length < 240 || b[0] !== 1 || b[236] !== 0x63 || b[237] !== 0x82 || b[238] !== 0x53 || b[239] !== 0x63) throw new Error('not DHCP');
  let type = 0;
  for (let i = 240; i + 1 < b.length && b[i] !== 255; i += b[i] === 0 ? 1 : 2 + b[i + 1]!) {
    if (b[i] === 53) {
      type = b[i + 2]!;
      break;
    }
  }
  return { xid: ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0, type, chaddr: b.subarray(28, 44) };
}

/** A proxy OFFER of fixed layout (53, 54, 60 PXEClient, 97, END), 300 bytes, as dnsmasq sends to OVMF. */
const TAIL = Uint8Array.of(0x63, 0x82, 0x53, 0x63, 53, 1, 2, 54, 4, 10, 0, 0, 1, 60, 9, ...[...'PXEClient'].map((c) => c.charCodeAt(0)), 97, 17);
function trivialEncode(req: { xid: number; chaddr: Uint8Array }, guid: Uint8Array): Uint8Array {
  const out = new Uint8Array(300);
  out[0] = 2;
  out[1] = 1;
  out[2] = 6;
  out[4] = req.xid >>> 24;
  out[5] = req.xid >>> 16;
  out[6] = req.xid >>> 8;
  out[7] = req.xid;
  out.set(req.chaddr, 28);
  out.set(TAIL, 236);
  out.set(guid, 272);
  out[289] = 255;
  return out;
}

// ── measuring ───────────────────────────────────────────────────────────────────────────────────────
let sink = 0;
/** Operations per second over one round of ROUND_MS. */
function round(op: () => number): number {
  for (let i = 0; i < 2000; i++) sink += op(); // warm: let V8 optimise before the clock starts
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ROUND_MS) {
    for (let i = 0; i < 1000; i++) sink += op();
    n += 1000;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);

function workFor(c: Codec): Record<string, () => number> {
  const offer = c.decodeDhcp(OFFER_BYTES);
  return {
    'decode DISCOVER': () => c.decodeDhcp(DISCOVER).options.length,
    'encode OFFER': () => c.encodeDhcp(offer as never).length,
    'decode + encode': () => c.decodeDhcp(DISCOVER).options.length + c.encodeDhcp(offer as never).length,
  };
}

async function baselineCodec(rev: string): Promise<{ codec: Codec; cleanup(): void }> {
  const d = mkdtempSync(join(tmpdir(), 'eb-bench-codec-'));
  for (const f of ['codec.ts', 'options.ts']) {
    writeFileSync(join(d, f), execFileSync('git', ['show', `${rev}:relay/src/dhcp/${f}`], { cwd: import.meta.dirname, maxBuffer: 1 << 24 }));
  }
  return { codec: (await import(join(d, 'codec.ts'))) as Codec, cleanup: () => rmSync(d, { recursive: true, force: true }) };
}

const trivialGuid = DISCOVER.subarray(DISCOVER.length - 60, DISCOVER.length - 43);
const trivial: Record<string, () => number> = {
  'decode DISCOVER': () => trivialDecode(DISCOVER).type,
  'encode OFFER': () => trivialEncode({ xid: 0xf66210bd, chaddr: DISCOVER.subarray(28, 44) }, trivialGuid).length,
  'decode + encode': () => {
    const r = trivialDecode(DISCOVER);
    return r.type + trivialEncode(r, trivialGuid).length;
  },
};

const base = values.baseline ? await baselineCodec(values.baseline) : null;
try {
  const subjects: Array<[string, Record<string, () => number>]> = [['trivial (reference)', trivial], ['codec (working tree)', workFor(current as unknown as Codec)]];
  if (base) subjects.push([`codec at ${values.baseline}`, workFor(base.codec)]);
  const ops = Object.keys(trivial);
  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const op of ops) {
      for (const [name, work] of subjects) {
        const key = `${name}|${op}`;
        results.set(key, [...(results.get(key) ?? []), round(work[op]!)]);
      }
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`DHCP codec, ops/s: median of ${ROUNDS} rounds of ${ROUND_MS} ms (min–max), interleaved; load average ${load}`);
  console.log(`${''.padEnd(24)} ${ops.map((o) => o.padStart(30)).join('')}`);
  for (const [name] of subjects) {
    const cells = ops.map((op) => {
      const xs = results.get(`${name}|${op}`)!;
      return `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`.padStart(30);
    });
    console.log(`${name.padEnd(24)} ${cells.join('')}`);
  }
  const ratio = (a: string, b: string, op: string) => (median(results.get(`${a}|${op}`)!) / median(results.get(`${b}|${op}`)!)).toFixed(2);
  for (const [name] of subjects.slice(1)) {
    console.log(`ratio ${name} / trivial: ${ops.map((op) => `${op} ${ratio(name, 'trivial (reference)', op)}×`).join(', ')}`);
  }
  if (base) console.log(`ratio working tree / ${values.baseline}: ${ops.map((op) => `${op} ${ratio('codec (working tree)', `codec at ${values.baseline}`, op)}×`).join(', ')}`);
  if (sink === 42) console.log('');
} finally {
  base?.cleanup();
}
