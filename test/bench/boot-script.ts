/**
 * Benchmark (not a test): the boot-script route — what every netbooting machine costs the cloud —
 * on workerd with a realistic catalog (1 site, 5,000 machines, 50 profiles, label and MAC
 * assignments), against a trivial worker in the same run. Each request is a relay asking for a
 * random one of the 5,000 MACs, so it records the sighting, loads the catalog, decides, signs the
 * image URLs, writes the boot record and renders the script: the real per-boot work.
 *
 *   npm run bench:boot [-- --seconds 5 --machines 5000 --profiles 50]
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
    machines: { type: 'string', default: '5000' },
    profiles: { type: 'string', default: '50' },
  },
});
const seconds = Number(values.seconds);
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
let results: { app: WrkResult; trivial: WrkResult; app1: WrkResult; trivial1: WrkResult } | undefined;
try {
  console.error(`seeding: ${profileCount} profiles, ${machineCount} machines…`);
  const site = await api('POST', '/v1/sites', { name: 'bench' });
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
    await api('POST', '/v1/assignments', { profileId: prof.id, selector: { siteId: site.id, labels: { rack: `r${p}` } } });
  }
  await parallel(machineCount, 8, (i) =>
    api('POST', '/v1/machines', { mac: mac(i), siteId: site.id, hostname: `node-${i}`, labels: { rack: `r${i % profileCount}`, role: i % 2 ? 'worker' : 'db' }, arch: 'uefi-x64' }),
  );
  // A tenth of the machines also have a machine-specific (MAC) assignment.
  await parallel(Math.floor(machineCount / 10), 8, (i) => api('POST', '/v1/assignments', { profileId: profiles[i % profiles.length], selector: { mac: mac(i * 10) } }));
  const { code } = await api('POST', `/v1/sites/${site.id}/enrollment-codes`, {});
  const relay = await api('POST', '/v1/relays/enroll', { code, name: 'bench-relay' });

  const check = await fetch(`${worker.url}/v1/relay/boot?mac=${mac(7)}&arch=7&fileBase=http://127.0.0.1:8080`, { headers: { authorization: `Bearer ${relay.token}` } });
  const text = await check.text();
  if (check.headers.get('x-edgeboot-decision') !== 'boot' || !text.includes('initrd=initrd0')) throw new Error(`unexpected script:\n${text}`);

  const lua = join(scratch, 'macs.lua');
  writeFileSync(
    lua,
    `local macs = {${Array.from({ length: machineCount }, (_, i) => `"${mac(i)}"`).join(',')}}\n` +
      `request = function()\n  return wrk.format("GET", "/v1/relay/boot?arch=7&fileBase=http://127.0.0.1:8080&mac=" .. macs[math.random(#macs)])\nend\n`,
  );
  const headers = { authorization: `Bearer ${relay.token}` };
  await wrk(worker.url, { connections: 50, seconds: 1, headers, script: lua });
  await wrk(trivial.url, { connections: 50, seconds: 1 });
  const app1 = await wrk(worker.url, { connections: 1, seconds, headers, script: lua });
  const trivial1 = await wrk(trivial.url, { connections: 1, seconds });
  const app = await wrk(worker.url, { connections: 50, seconds, headers, script: lua });
  const trivialRes = await wrk(trivial.url, { connections: 50, seconds });
  results = { app, trivial: trivialRes, app1, trivial1 };
} finally {
  await worker.dispose();
  await trivial.dispose();
  rmSync(scratch, { recursive: true, force: true });
}

const row = (label: string, a: WrkResult, t: WrkResult) =>
  `${label.padEnd(6)} ${a.requestsPerSec.toFixed(0).padStart(8)} ${a.p50Ms.toFixed(2).padStart(8)} ${a.p99Ms.toFixed(2).padStart(8)} | ${t.requestsPerSec.toFixed(0).padStart(8)} ${t.p50Ms.toFixed(2).padStart(8)} ${t.p99Ms.toFixed(2).padStart(8)} | ${(a.requestsPerSec / t.requestsPerSec).toFixed(3).padStart(6)}  ${a.errors + t.errors}`;
console.log(`\nboot script (GET /v1/relay/boot, random MAC of ${machineCount}, ${profileCount} profiles) vs trivial worker, workerd + local D1/R2, ${seconds} s per cell`);
console.log('conns   req/s   p50 ms   p99 ms |  trivial   p50 ms   p99 ms |  ratio  errors');
console.log(row('1', results!.app1, results!.trivial1));
console.log(row('50', results!.app, results!.trivial));
