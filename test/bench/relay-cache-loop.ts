/**
 * Benchmark (not a test): how long the relay's event loop stalls while its image cache serves a
 * 64 MiB object to 50 clients (wrk) and boot scripts keep handing it fresh signed paths. The loop
 * that serves images also answers DHCP: a stall here is a late DHCP offer.
 *
 * Each round runs three phases against a warm cache, in this process (perf_hooks
 * monitorEventLoopDelay measures the loop that serves):
 *   scripts only    no clients: what the scripts alone cost the loop
 *   serve           wrk only: the reference
 *   serve+scripts   wrk, and `--scripts-per-sec` scripts rewritten through the relay's own
 *                   rewriteFileUrls (http/file-urls.ts), each naming `--images-per-script` images
 *                   with a signature never seen before (as every script does)
 * and prints the loop delay p50/p99/max, wrk's throughput and how often sources.json was written.
 *
 * `--compare-with DIR` also runs, in the same rounds, the ImageCache of another checkout (e.g. an
 * older commit: `git archive <commit> | tar -x -C DIR && ln -s $PWD/node_modules DIR/`), and prints
 * ratios against it. Rounds alternate between the two, and medians are reported.
 *
 *   node --import ./cloud/src/adapters/node/register-tsx.ts test/bench/relay-cache-loop.ts \
 *     [--seconds 8 --rounds 3 --connections 50 --scripts-per-sec 50 --images-per-script 2 \
 *      --cache-memory-bytes 512MiB --compare-with /tmp/old-checkout]
 *
 * Needs wrk (apt-get install wrk). Loopback only; the only process started is wrk, by lib/wrk.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FileGrants } from '../../relay/src/http/file-grants.ts';
import { rewriteFileUrls } from '../../relay/src/http/file-urls.ts';
import { ImageCache as CurrentImageCache } from '../../relay/src/http/image-cache.ts';
import { MetricsRegistry } from '../../relay/src/http/metrics.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient } from '../../relay/src/sync/cloud-client.ts';
import { tempDir } from '../relay/support/relay-harness.ts';
import { hasWrk, wrk, type WrkResult } from './lib/wrk.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    'scripts-per-sec': { type: 'string', default: '50' },
    'images-per-script': { type: 'string', default: '2' },
    'cache-memory-bytes': { type: 'string', default: '512MiB' },
    'compare-with': { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const scriptsPerSec = Number(values['scripts-per-sec']);
const imagesPerScript = Number(values['images-per-script']);
const SIZE = 64 * 1024 * 1024;
/** `512MiB`, `64KiB`, `0`: the relay's own spelling of sizes. */
const bytesOf = (v: string) => Number(/^(\d+)/.exec(v)![1]) * 1024 ** ['', 'KiB', 'MiB', 'GiB'].indexOf(/^\d+(\D*)$/.exec(v)![1]!);

if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}

type CacheClass = typeof CurrentImageCache;
const impls: Array<{ name: string; ImageCache: CacheClass }> = [];
if (values['compare-with']) {
  const mod = (await import(resolve(values['compare-with'], 'relay/src/http/image-cache.ts'))) as { ImageCache: CacheClass };
  impls.push({ name: 'before', ImageCache: mod.ImageCache });
}
impls.push({ name: values['compare-with'] ? 'after' : 'current', ImageCache: CurrentImageCache });

const bytes = randomBytes(SIZE);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const served = `img_${'s'.repeat(26)}`;
const others = Array.from({ length: imagesPerScript }, (_, i) => `img_${String(i).padStart(26, 'o')}`);

/** A warm cache as a completed fill leaves it; one fresh directory per implementation. */
function warmDir(): string {
  const dir = join(tempDir('bench-cache-loop'), 'cache');
  mkdirSync(join(dir, 'objects'), { recursive: true });
  writeFileSync(join(dir, 'objects', sha256), bytes);
  const sources: Record<string, unknown> = { [served]: { path: null, sha256, size: SIZE } };
  for (const id of others) sources[id] = { path: `/v1/files/${id}?sig=start`, sha256: null, size: null };
  writeFileSync(join(dir, 'sources.json'), JSON.stringify(sources));
  return dir;
}

interface Phase {
  p50: number;
  p99: number;
  max: number;
  wrk: WrkResult;
  scripts: number;
  indexWrites: number;
}

/** Counts renames onto sources.json (every write of it, by either implementation, ends in one). */
function countIndexWrites(dir: string): { count: () => number; close: () => void } {
  let n = 0;
  const w = watch(dir, (event, name) => {
    if (event === 'rename' && name === 'sources.json') n++;
  });
  return { count: () => n, close: () => w.close() };
}

/** No load generator: the phase in which only scripts run. */
async function idle(s: number): Promise<WrkResult> {
  await new Promise((r) => setTimeout(r, s * 1000));
  return { requestsPerSec: 0, p50Ms: 0, p99Ms: 0, requests: 0, errors: 0, bytesPerSec: 0 };
}

async function phase(cache: InstanceType<CacheClass>, dir: string, url: string | null, withScripts: boolean): Promise<Phase> {
  const grants = new FileGrants(randomBytes(32));
  const fileDeps = { grants, cache, baseUrl: 'http://127.0.0.1:1' };
  let sig = 0;
  let scripts = 0;
  const script = () =>
    `#!ipxe\n${others.map((id) => `kernel http://cloud.invalid/v1/files/${id}?sig=${(++sig).toString(36)}.${Date.now()}\n`).join('')}boot\n`;
  const writes = countIndexWrites(dir);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // Scripts arrive spread over each second, as boots do; a late loop serves the ones that queued up
  // meanwhile (as requests wait in the socket's backlog), so the rate holds even when the loop lags.
  const started = performance.now();
  const timer = withScripts
    ? setInterval(() => {
        const due = Math.floor(((performance.now() - started) / 1000) * scriptsPerSec);
        for (; scripts < due; scripts++) rewriteFileUrls(fileDeps, script(), '52:54:00:12:34:56', '10.0.0.7');
      }, 1000 / scriptsPerSec)
    : null;
  const result = url ? await wrk(url, { connections, seconds, timeoutSeconds: 30 }) : await idle(seconds);
  if (timer) clearInterval(timer);
  h.disable();
  // Let a write-behind flush land before counting.
  await new Promise((r) => setTimeout(r, 1500));
  writes.close();
  const ms = (ns: number) => ns / 1e6;
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), wrk: result, scripts, indexWrites: writes.count() };
}

async function listen(cache: InstanceType<CacheClass>): Promise<Server> {
  const server = createServer((req, res) => {
    void cache.serve(req, res, served);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const log = createLogger({ component: 'bench', write: () => undefined });
const client = createCloudClient({ baseUrl: 'http://127.0.0.1:9', token: null });
const PHASES = ['scripts only', 'serve', 'serve+scripts'] as const;
const results = new Map<string, Record<(typeof PHASES)[number], Phase[]>>(impls.map((i) => [i.name, { 'scripts only': [], serve: [], 'serve+scripts': [] }]));
try {
  for (let r = 0; r < rounds; r++) {
    for (const impl of r % 2 === 0 ? impls : [...impls].reverse()) {
      const dir = warmDir();
      const cache = new impl.ImageCache({ dir, client, log, metrics: new MetricsRegistry(), maxBytes: 4 * SIZE, memoryBytes: bytesOf(values['cache-memory-bytes']!) });
      const server = await listen(cache);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/${served}`;
      const res = results.get(impl.name)!;
      res['scripts only'].push(await phase(cache, dir, null, true));
      res.serve.push(await phase(cache, dir, url, false));
      res['serve+scripts'].push(await phase(cache, dir, url, true));
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      await cache.close();
      process.stderr.write(`round ${r + 1}/${rounds} ${impl.name} done\n`);
    }
  }
} finally {
  await client.close();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gib = (p: Phase) => p.wrk.bytesPerSec / 1024 ** 3;
const summary = (ps: Phase[]) => ({ p50: median(ps.map((p) => p.p50)), p99: median(ps.map((p) => p.p99)), max: median(ps.map((p) => p.max)), gib: median(ps.map(gib)), scripts: median(ps.map((p) => p.scripts)), writes: median(ps.map((p) => p.indexWrites)) });
console.log(
  `event-loop delay while serving a 64 MiB object to ${connections} wrk connections for ${seconds} s; ` +
    `scripts: ${scriptsPerSec}/s with ${imagesPerScript} fresh signed paths each; medians of ${rounds} rounds`,
);
const rows: Record<string, ReturnType<typeof summary>> = {};
for (const [name, res] of results) {
  for (const phaseName of PHASES) {
    const ps = res[phaseName];
    const s = summary(ps);
    rows[`${name} ${phaseName}`] = s;
    console.log(
      `${`${name} ${phaseName}`.padEnd(22)} loop delay p50 ${s.p50.toFixed(2).padStart(6)} ms  p99 ${s.p99.toFixed(2).padStart(7)} ms  max ${s.max.toFixed(1).padStart(7)} ms  ` +
        `${s.gib.toFixed(2)} GiB/s  scripts ${s.scripts}  sources.json writes ${s.writes}` +
        `  (p99 per round: ${ps.map((p) => p.p99.toFixed(1)).join(', ')})`,
    );
  }
}
for (const { name } of impls) {
  const a = rows[`${name} serve`]!;
  const b = rows[`${name} serve+scripts`]!;
  console.log(`${name}: scripts raise loop-delay p99 ${(b.p99 / a.p99).toFixed(2)}× over serving alone; throughput ${(b.gib / a.gib).toFixed(2)}×`);
}
if (impls.length === 2) {
  const b = rows['before serve+scripts']!;
  const a = rows['after serve+scripts']!;
  const bi = rows['before scripts only']!;
  const ai = rows['after scripts only']!;
  console.log(`after/before, scripts only: loop-delay p99 ${(ai.p99 / bi.p99).toFixed(2)}×, max ${(ai.max / bi.max).toFixed(2)}×, sources.json writes ${ai.writes} vs ${bi.writes}`);
  console.log(`after/before, serve+scripts: loop-delay p99 ${(a.p99 / b.p99).toFixed(2)}×, max ${(a.max / b.max).toFixed(2)}×, throughput ${(a.gib / b.gib).toFixed(2)}×, sources.json writes ${a.writes} vs ${b.writes}`);
}
