/**
 * Benchmark (not a test): a 64 MiB image through the signed `/v1/files` route against the same
 * bytes from a static handler on the same runtime, whole and in 8 MiB ranges.
 *   - node: the Node entry (folder store) vs node:http + fs.createReadStream of the very file the
 *     folder store holds;
 *   - workerd: the edgeboot worker (R2 binding, local) vs a five-line worker streaming the same
 *     object from an R2 binding, both in Miniflare reached directly (no wrangler dev proxy).
 *
 *   npm run bench:files [-- --seconds 5 --connections 4 --runtimes node,workerd]
 *
 * Needs wrk. Loopback only; every server is started and stopped here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { REPO_ROOT, spawnEntry } from '../support/spawned-entry.ts';
import { startEdgebootWorker } from '../support/workerd.ts';
import { hasWrk, wrk, type WrkResult } from './lib/wrk.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '4' },
    runtimes: { type: 'string', default: 'node,workerd' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const SIZE = 64 * 1024 * 1024;
const RANGE = 8 * 1024 * 1024;
/** The third 8 MiB of the image: not aligned to the start, so a store cannot shortcut it. */
const rangeHeader = `bytes=${2 * RANGE + 4096}-${3 * RANGE + 4095}`;

if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}

interface Pair {
  /** The signed file URL on the app. */
  appUrl: string;
  staticUrl: string;
  stop(): Promise<void>;
}

const ADMIN = 'ebt_benchadmintoken00000000000000000';
const bytes = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));

async function api(base: string, token: string, method: string, path: string, init: { json?: unknown; body?: Uint8Array<ArrayBuffer> } = {}): Promise<any> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  if (init.body) Object.assign(headers, { 'content-type': 'application/octet-stream', 'content-length': String(init.body.length) });
  const res = await fetch(`${base}${path}`, { method, headers, body: init.body ?? (init.json === undefined ? undefined : JSON.stringify(init.json)) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Uploads the image and returns its signed URL (and id). */
async function publish(base: string, token: string): Promise<{ id: string; url: string }> {
  const site = await api(base, token, 'POST', '/v1/sites', { json: { name: 'bench-files' } });
  const image = await api(base, token, 'POST', '/v1/images', { json: { name: 'bench-64mib' } });
  await api(base, token, 'PUT', `/v1/images/${image.id}/content`, { body: bytes });
  const { url } = await api(base, token, 'POST', `/v1/images/${image.id}/signed-url`, { json: { siteId: site.id, ttlSeconds: 3600 } });
  return { id: image.id, url };
}

const WORKER = `export default { async fetch(req, env) {
  const m = /^bytes=(\\d+)-(\\d+)$/.exec(req.headers.get('range') ?? '');
  const o = await env.B.get('img', m ? { range: { offset: +m[1], length: m[2] - m[1] + 1 } } : {});
  return new Response(o.body, { status: m ? 206 : 200, headers: { 'content-length': String(m ? m[2] - m[1] + 1 : o.size) } });
} };`;

const starters: Record<string, () => Promise<Pair>> = {
  node: async () => {
    const app = await spawnEntry({ name: 'bench-files-node', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
    try {
      const { id, url } = await publish(app.baseUrl, app.adminToken);
      const file = join(app.dataDir, 'objects', 'images', id);
      const stat = await spawnEntry({ name: 'bench-files-static', command: process.execPath, args: () => ['test/bench/static/node-file-server.ts'], env: { PORT: '0', FILE: file }, listening: /listening on (http:\/\/\S+)/i });
      return { appUrl: url, staticUrl: `${stat.baseUrl}/img`, stop: async () => void (await Promise.all([app.stop(), stat.stop()])) };
    } catch (err) {
      await app.stop();
      throw err;
    }
  },
  workerd: async () => {
    const app = await startEdgebootWorker(ADMIN);
    const mf = new Miniflare(convertV4MiniflareOptions({ modules: true, script: WORKER, r2Buckets: ['B'], unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }] }));
    try {
      const { url } = await publish(app.url, ADMIN);
      await (await mf.getR2Bucket('B')).put('img', bytes);
      const staticUrl = `${(await mf.unsafeGetDirectURL()).href.replace(/\/$/, '')}/img`;
      return { appUrl: url, staticUrl, stop: async () => void (await Promise.all([app.dispose(), mf.dispose()])) };
    } catch (err) {
      await Promise.all([app.dispose(), mf.dispose()]);
      throw err;
    }
  },
};

/** Both servers must give the same bytes before either is timed. */
async function check(url: string, range?: string): Promise<void> {
  const res = await fetch(url, { headers: range ? { range } : {} });
  const got = new Uint8Array(await res.arrayBuffer());
  const [first, len] = range ? [2 * RANGE + 4096, RANGE] : [0, SIZE];
  if (res.status !== (range ? 206 : 200) || got.length !== len || Buffer.compare(got, bytes.subarray(first, first + len)) !== 0) {
    throw new Error(`${url} (${range ?? 'whole'}) answered ${res.status} with ${got.length} bytes that are not the image's`);
  }
}

interface Row {
  runtime: string;
  kind: 'whole' | 'range';
  app: WrkResult;
  static: WrkResult;
}
const rows: Row[] = [];
for (const runtime of values.runtimes!.split(',')) {
  const start = starters[runtime];
  if (!start) throw new Error(`unknown runtime ${runtime}`);
  console.error(`[${runtime}] starting and uploading 64 MiB…`);
  const pair = await start();
  try {
    for (const kind of ['whole', 'range'] as const) {
      const headers = kind === 'range' ? { range: rangeHeader } : undefined;
      await check(pair.appUrl, headers?.range);
      await check(pair.staticUrl, headers?.range);
      await wrk(pair.appUrl, { connections, seconds: 1, headers }); // warm-up
      await wrk(pair.staticUrl, { connections, seconds: 1, headers });
      const app = await wrk(pair.appUrl, { connections, seconds, headers });
      const stat = await wrk(pair.staticUrl, { connections, seconds, headers });
      rows.push({ runtime, kind, app, static: stat });
      console.error(`[${runtime}] ${kind}: app ${(app.bytesPerSec / 1e6).toFixed(0)} MB/s, static ${(stat.bytesPerSec / 1e6).toFixed(0)} MB/s`);
    }
  } finally {
    await pair.stop();
  }
}

const mb = (r: WrkResult) => (r.bytesPerSec / 1e6).toFixed(0).padStart(7);
console.log(`\n64 MiB image: signed /v1/files vs a static handler on the same runtime (wrk, loopback, ${connections} connections, ${seconds} s per cell)`);
console.log('runtime  request        app MB/s  req/s | static MB/s  req/s | ratio  errors');
for (const r of rows) {
  const what = r.kind === 'whole' ? 'whole 64 MiB' : '8 MiB range';
  console.log(
    `${r.runtime.padEnd(8)} ${what.padEnd(14)} ${mb(r.app)} ${r.app.requestsPerSec.toFixed(1).padStart(6)} |     ${mb(r.static)} ${r.static.requestsPerSec.toFixed(1).padStart(6)} | ${(r.app.bytesPerSec / r.static.bytesPerSec).toFixed(2).padStart(5)}  ${r.app.errors + r.static.errors}`,
  );
}
mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'test-results/bench-files.json'), JSON.stringify({ seconds, connections, rows }, null, 2));
