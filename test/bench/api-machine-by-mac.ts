/**
 * Benchmark (not a test): "get machine by MAC" — the control plane's hottest read — on workerd,
 * Deno and Node, at 1 and 50 connections, each against a trivial handler on the same runtime and
 * HTTP stack in the same run. The ratio app/trivial is what edgeboot's routing, auth (one token
 * lookup) and query cost.
 *
 *   npm run bench:api [-- --seconds 5 --machines 2000 --runtimes node,deno,workerd]
 *
 * Needs wrk (Debian package `wrk`). Loopback only; every server is started and stopped here.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileSync, mkdirSync } from 'node:fs';
import { REPO_ROOT, spawnEntry } from '../support/spawned-entry.ts';
import { hasWrk, wrk, type WrkResult } from './lib/wrk.ts';
import { startEdgebootWorker, startTrivialWorker } from '../support/workerd.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    machines: { type: 'string', default: '2000' },
    runtimes: { type: 'string', default: 'workerd,deno,node' },
  },
});
const seconds = Number(values.seconds);
const machineCount = Number(values.machines);
const runtimes = values.runtimes!.split(',');

if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}

interface Server {
  url: string;
  adminToken: string;
  stop(): Promise<void>;
}

const ADMIN = 'ebt_benchadmintoken00000000000000000';
const DENO = join(REPO_ROOT, 'node_modules/.bin/deno');
const denoServe = (file: string, dataDir: string) => [
  'serve',
  '--allow-env',
  `--allow-read=${REPO_ROOT},${dataDir}`,
  `--allow-write=${dataDir}`,
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  file,
];

async function spawned(name: string, command: string, args: (d: string) => string[], env: Record<string, string> = {}): Promise<Server> {
  const e = await spawnEntry({ name, command, args, env: { DENO_NO_UPDATE_CHECK: '1', ...env }, listening: /listening on (http:\/\/\S+)/i });
  return { url: e.baseUrl, adminToken: e.adminToken, stop: e.stop };
}

const starters: Record<string, { app(): Promise<Server>; trivial(): Promise<Server> }> = {
  node: {
    app: () => spawned('bench-node', process.execPath, () => ['cloud/src/entry/node.ts'], { PORT: '0' }),
    trivial: () => spawned('bench-node-trivial', process.execPath, () => ['test/bench/trivial/node-serve.ts'], { PORT: '0' }),
  },
  deno: {
    app: () => spawned('bench-deno', DENO, (d) => denoServe('cloud/src/entry/deno.ts', d)),
    trivial: () => spawned('bench-deno-trivial', DENO, (d) => denoServe('test/bench/trivial/fetch-handler.ts', d)),
  },
  workerd: {
    app: async () => {
      const w = await startEdgebootWorker(ADMIN);
      return { url: w.url, adminToken: ADMIN, stop: w.dispose };
    },
    trivial: async () => {
      const { readFileSync } = await import('node:fs');
      // The handler file is plain JS once its one type annotation is gone; workerd runs it as a module.
      const src = readFileSync(join(REPO_ROOT, 'test/bench/trivial/fetch-handler.ts'), 'utf8').replace('fetch(): Response {', 'fetch() {');
      const w = await startTrivialWorker(src);
      return { url: w.url, adminToken: ADMIN, stop: w.dispose };
    },
  },
};

async function api(s: Server, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A site with `n` machines (8 requests in flight); returns one MAC from the middle. */
async function seed(s: Server, n: number): Promise<string> {
  const site = await api(s, 'POST', '/v1/sites', { name: 'bench' });
  const mac = (i: number) => `02:00:${[(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        await api(s, 'POST', '/v1/machines', { mac: mac(i), siteId: site.id, hostname: `node-${i}`, labels: { rack: `r${i % 40}` }, arch: 'uefi-x64' });
      }
    }),
  );
  return mac(Math.floor(n / 2));
}

interface Row {
  runtime: string;
  connections: number;
  app: WrkResult;
  trivial: WrkResult;
}

const rows: Row[] = [];
for (const runtime of runtimes) {
  const start = starters[runtime];
  if (!start) throw new Error(`unknown runtime ${runtime}`);
  console.error(`[${runtime}] starting, seeding ${machineCount} machines…`);
  const app = await start.app();
  const trivial = await start.trivial();
  try {
    const mac = await seed(app, machineCount);
    const appUrl = `${app.url}/v1/machines/${mac}`;
    const check = await api(app, 'GET', `/v1/machines/${mac}`);
    if (check.mac !== mac) throw new Error(`lookup returned ${JSON.stringify(check)}`);
    // A token from the database, as every real caller has (the bootstrap secret skips the lookup).
    const issued = await api(app, 'POST', '/v1/tokens', { name: 'bench', role: 'viewer' });
    const headers = { authorization: `Bearer ${issued.token}` };
    for (const connections of [1, 50]) {
      await wrk(appUrl, { connections, seconds: 1, headers }); // warm-up (JIT, caches)
      await wrk(trivial.url, { connections, seconds: 1 });
      const a = await wrk(appUrl, { connections, seconds, headers });
      const t = await wrk(trivial.url, { connections, seconds });
      rows.push({ runtime, connections, app: a, trivial: t });
      console.error(`[${runtime}] c=${connections}: app ${a.requestsPerSec.toFixed(0)} req/s, trivial ${t.requestsPerSec.toFixed(0)} req/s`);
    }
  } finally {
    await app.stop();
    await trivial.stop();
  }
}

const fmt = (n: number, d = 0) => n.toFixed(d).padStart(8);
console.log('\nGET /v1/machines/{mac} vs a trivial handler on the same runtime (wrk, loopback, ' + `${seconds} s per cell, ${machineCount} machines)`);
console.log('runtime  conns   app req/s   p50 ms   p99 ms | trivial req/s   p50 ms   p99 ms | ratio  errors');
for (const r of rows) {
  console.log(
    `${r.runtime.padEnd(8)} ${String(r.connections).padStart(5)} ${fmt(r.app.requestsPerSec)}    ${fmt(r.app.p50Ms, 2)} ${fmt(r.app.p99Ms, 2)} |    ${fmt(r.trivial.requestsPerSec)}  ${fmt(r.trivial.p50Ms, 2)} ${fmt(r.trivial.p99Ms, 2)} | ${(r.app.requestsPerSec / r.trivial.requestsPerSec).toFixed(2).padStart(5)}  ${r.app.errors + r.trivial.errors}`,
  );
}
mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'test-results/bench-api.json'), JSON.stringify({ seconds, machineCount, rows }, null, 2));
