/**
 * Benchmark (not a test): the boot-script route — what every netbooting machine costs the cloud —
 * on workerd with a realistic catalog, against a trivial worker in the same run. Each request is a
 * site's relay asking for a random one of the machines, so it records the sighting, loads the
 * catalog, decides, signs the image URLs, writes the boot record and renders the script: the real
 * per-boot work. It also reads the worker's own /metrics around each run and prints the database
 * round trips per boot request, counted over sequential boots (on Workers each is a network hop to
 * D1; local D1 hides that cost).
 *
 *   npm run bench:boot [-- --seconds 5 --sites 1 --machines 5000 --profiles 50]
 *   npm run bench:boot -- --sites 1000 --machines 50000      (issue 16: 1,000 sites × 50 machines)
 *
 * Machines are spread evenly over the sites, one enrolled relay per site. With one site the rack
 * assignments are that site's; with more they are fleet-wide (the same 50 candidates per boot,
 * without 50 API calls per site). A tenth of the machines also have a MAC assignment.
 *
 * Needs wrk. Loopback only: the `fileBase` in the scripts is a string, nothing connects to it.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { hasWrk, wrk, type WrkResult } from './lib/wrk.ts';
import { startEdgebootWorker, startTrivialWorker } from '../support/workerd.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    sites: { type: 'string', default: '1' },
    machines: { type: 'string', default: '5000' },
    profiles: { type: 'string', default: '50' },
  },
});
const seconds = Number(values.seconds);
const siteCount = Number(values.sites);
const machineCount = Number(values.machines);
const profileCount = Number(values.profiles);
if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}

const ADMIN = 'ebt_benchadmintoken00000000000000000';
const worker = await startEdgebootWorker(ADMIN);
const trivialSrc = readFileSync(join(REPO_ROOT, 'test/bench/trivial/fetch-handler.ts'), 'utf8').replace('fetch(): Response {', 'fetch() {');
const trivial = await startTrivialWorker(trivialSrc);
const scratch = mkdtempSync(join(tmpdir(), 'edgeboot-bench-boot-'));

async function api(method: string, path: string, body?: unknown, token = ADMIN): Promise<any> {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

async function upload(name: string, kind: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const img = await api('POST', '/v1/images', { name, kind });
  const res = await fetch(`${worker.url}/v1/images/${img.id}/content`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}` }, body: bytes });
  if (!res.ok) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
  return img.id;
}

async function parallel(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await task(next++);
  }));
}

const mac = (i: number) => `02:00:${[(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
type Trips = Record<'all' | 'first' | 'batch', number>;

/** Database round trips this worker's isolate made so far, by call (its /metrics). */
async function roundTrips(): Promise<Trips> {
  const res = await fetch(`${worker.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`/metrics: ${res.status}`);
  const n: Trips = { all: 0, first: 0, batch: 0 };
  for (const m of (await res.text()).matchAll(/^edgeboot_db_round_trips_total\{op="(all|first|batch)"\} (\d+)/gm)) n[m[1] as keyof Trips] = Number(m[2]);
  return n;
}
const minus = (a: Trips, b: Trips): Trips => ({ all: a.all - b.all, first: a.first - b.first, batch: a.batch - b.batch });

let results: { app: WrkResult; trivial: WrkResult; app1: WrkResult; trivial1: WrkResult } | undefined;
let trips: Trips | undefined;
const countedBoots = 300;
try {
  console.error(`seeding: ${siteCount} sites, ${profileCount} profiles, ${machineCount} machines…`);
  const sites: string[] = [];
  await parallel(siteCount, 8, async () => sites.push((await api('POST', '/v1/sites', { name: `bench-${sites.length}-${Math.random().toString(36).slice(2, 8)}` })).id));
  const kernel = await upload('vmlinuz', 'kernel', new Uint8Array(4096).fill(1));
  const initrd = await upload('initrd', 'initrd', new Uint8Array(4096).fill(2));
  const profiles: string[] = [];
  for (let p = 0; p < profileCount; p++) {
    const prof = await api('POST', '/v1/profiles', {
      name: `os-${p}`,
      spec: { kind: 'linux', kernel, initrds: [initrd], cmdline: `console=ttyS0 hostname={{hostname}} rack={{label.rack}} edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}} variant=${p}` },
    });
    profiles.push(prof.id);
    // Every rack boots one profile: label assignments are what a fleet mostly has.
    await api('POST', '/v1/assignments', { profileId: prof.id, selector: { ...(siteCount === 1 ? { siteId: sites[0] } : {}), labels: { rack: `r${p}` } } });
  }
  const siteOf = (i: number) => sites[i % siteCount]!;
  await parallel(machineCount, 8, (i) =>
    api('POST', '/v1/machines', { mac: mac(i), siteId: siteOf(i), hostname: `node-${i}`, labels: { rack: `r${i % profileCount}`, role: i % 2 ? 'worker' : 'db' }, arch: 'uefi-x64' }),
  );
  // A tenth of the machines also have a machine-specific (MAC) assignment.
  await parallel(Math.floor(machineCount / 10), 8, (i) => api('POST', '/v1/assignments', { profileId: profiles[i % profiles.length], selector: { mac: mac(i * 10) } }));
  const tokens: string[] = new Array(siteCount);
  await parallel(siteCount, 8, async (k) => {
    const { code } = await api('POST', `/v1/sites/${sites[k]}/enrollment-codes`, {});
    tokens[k] = (await api('POST', '/v1/relays/enroll', { code, name: `bench-relay-${k}` })).token;
  });

  const check = await fetch(`${worker.url}/v1/relay/boot?mac=${mac(7)}&arch=7&fileBase=http://127.0.0.1:8080`, { headers: { authorization: `Bearer ${tokens[7 % siteCount]}` } });
  const text = await check.text();
  if (check.headers.get('x-edgeboot-decision') !== 'boot' || !text.includes('initrd=initrd0')) throw new Error(`unexpected script:\n${text}`);

  // Machine i is at site i mod sites, and only that site's relay may ask for it.
  const lua = join(scratch, 'macs.lua');
  writeFileSync(
    lua,
    `local macs = {${Array.from({ length: machineCount }, (_, i) => `"${mac(i)}"`).join(',')}}\n` +
      `local tokens = {${tokens.map((t) => `"${t}"`).join(',')}}\n` +
      `request = function()\n  local i = math.random(#macs)\n` +
      `  return wrk.format("GET", "/v1/relay/boot?arch=7&fileBase=http://127.0.0.1:8080&mac=" .. macs[i], { ["authorization"] = "Bearer " .. tokens[((i - 1) % #tokens) + 1] })\nend\n`,
  );
  // Round trips per boot, counted over sequential boots: under wrk, requests still in flight when a
  // cell ends have made round trips that no completed request accounts for.
  // A /metrics read makes round trips of its own (its fleet gauges): measured, then taken off.
  const m0 = await roundTrips();
  const own = minus(await roundTrips(), m0);
  const before = await roundTrips();
  for (let k = 0; k < countedBoots; k++) {
    const i = Math.floor(Math.random() * machineCount);
    const res = await fetch(`${worker.url}/v1/relay/boot?arch=7&fileBase=http://127.0.0.1:8080&mac=${mac(i)}`, { headers: { authorization: `Bearer ${tokens[i % siteCount]}` } });
    if (!res.ok) throw new Error(`boot ${mac(i)}: ${res.status}`);
    await res.arrayBuffer();
  }
  trips = minus(minus(await roundTrips(), before), own);

  await wrk(worker.url, { connections: 50, seconds: 1, script: lua });
  await wrk(trivial.url, { connections: 50, seconds: 1 });
  const app1 = await wrk(worker.url, { connections: 1, seconds, script: lua });
  const trivial1 = await wrk(trivial.url, { connections: 1, seconds });
  const app = await wrk(worker.url, { connections: 50, seconds, script: lua });
  const trivialRes = await wrk(trivial.url, { connections: 50, seconds });
  results = { app, trivial: trivialRes, app1, trivial1 };
} finally {
  await worker.dispose();
  await trivial.dispose();
  rmSync(scratch, { recursive: true, force: true });
}

const row = (label: string, a: WrkResult, t: WrkResult) =>
  `${label.padEnd(6)} ${a.requestsPerSec.toFixed(0).padStart(8)} ${a.p50Ms.toFixed(2).padStart(8)} ${a.p99Ms.toFixed(2).padStart(8)} | ${t.requestsPerSec.toFixed(0).padStart(8)} ${t.p50Ms.toFixed(2).padStart(8)} ${t.p99Ms.toFixed(2).padStart(8)} | ${(a.requestsPerSec / t.requestsPerSec).toFixed(3).padStart(6)}  ${a.errors + t.errors}`;
console.log(
  `\nboot script (GET /v1/relay/boot, random MAC of ${machineCount} over ${siteCount} site(s), ${profileCount} profiles) vs trivial worker, workerd + local D1/R2, ${seconds} s per cell`,
);
console.log('conns   req/s   p50 ms   p99 ms |  trivial   p50 ms   p99 ms |  ratio  errors');
console.log(row('1', results!.app1, results!.trivial1));
console.log(row('50', results!.app, results!.trivial));
const per = (n: number) => (n / countedBoots).toFixed(2);
console.log(
  `database round trips per boot request, over ${countedBoots} sequential boots (worker's /metrics; the relay token's lookup included): ` +
    `${per(trips!.all + trips!.first + trips!.batch)} = ${per(trips!.batch)} batch + ${per(trips!.first)} first + ${per(trips!.all)} all`,
);
