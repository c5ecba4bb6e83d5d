/**
 * Benchmark (not a test): the relay's image cache serving a 64 MiB image from disk vs nginx serving
 * the very same file (sendfile on), both on loopback, driven by wrk. Also the relay's RSS at idle
 * and after the load. The cache is warmed the way a fill leaves it (objects/<sha256> and
 * sources.json), with a grant minted by the relay's own key for 127.0.0.1.
 *
 *   npm run bench:cache [-- --seconds 10 --connections 50 --rounds 2 --cache-memory-bytes 0 --from-source]
 *
 * `--cache-memory-bytes 0` measures serving from disk only (fs reads; no memory copy).
 *
 * Needs wrk and nginx (apt-get install wrk nginx-light). Every process is started here and only
 * those PIDs are stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileGrants } from '../../relay/src/http/file-grants.ts';
import { grantKey, saveCredentials } from '../../relay/src/sync/credentials.ts';
import { freePort, get, tempDir, until } from '../relay/support/relay-harness.ts';
import { createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage } from '../relay/support/test-cloud.ts';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { buildRelay } from '../../scripts/build-relay.ts';
import { NGINX, nginxStaticConfig } from './lib/nginx.ts';
import { hasWrk, wrk, type WrkResult } from './lib/wrk.ts';
import { stopChild } from './lib/process.ts';

const { values } = parseArgs({ options: { 'from-source': { type: 'boolean', default: false }, seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, rounds: { type: 'string', default: '2' }, 'relay-node-flags': { type: 'string', default: '' }, 'cache-memory-bytes': { type: 'string', default: '512MiB' } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const SIZE = 64 * 1024 * 1024;

if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}

/** RSS, and the private part of it (what the relay itself costs; the rest is the shared node binary). */
function memory(pid: number): string {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)![1]);
  return `RSS ${(kb('Rss') / 1024).toFixed(1)} MiB (private ${((kb('Private_Clean') + kb('Private_Dirty')) / 1024).toFixed(1)} MiB)`;
}

const cloud = await startTestCloud();
const children: ChildProcess[] = [];
try {
  const site = await createSite(cloud);
  const creds = await enrolledCredentials(cloud, site);
  const bytes = randomBytesOf(SIZE);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const img = await uploadImage(cloud, bytes);
  if (img.sha256 !== sha256) throw new Error('the cloud computed another sha256');

  // A warm cache, as a completed fill leaves it.
  const stateDir = tempDir('bench-relay');
  saveCredentials(stateDir, creds);
  mkdirSync(join(stateDir, 'cache/objects'), { recursive: true });
  writeFileSync(join(stateDir, 'cache/objects', sha256), bytes);
  writeFileSync(join(stateDir, 'cache/sources.json'), JSON.stringify({ [img.id]: { path: null, sha256, size: SIZE } }));
  const grant = new FileGrants(grantKey(stateDir)).mint(img.id, '127.0.0.1', '52:54:00:be:7c:00');

  const relayPort = await freePort();
  // What a site runs is the bundle (scripts/build-relay.ts); --from-source runs relay/src/main.ts.
  const main = values['from-source'] ? join(REPO_ROOT, 'relay/src/main.ts') : await buildRelay();
  // DHCP and TFTP start too (as on a site), on free ports: this benchmark sends them nothing.
  const lanPorts = ['--dhcp-port', String(await freePort()), '--tftp-port', String(await freePort())];
  const relay = spawn(
    join(REPO_ROOT, 'node_modules/.bin/node'),
    [...values['relay-node-flags']!.split(' ').filter(Boolean), main, 'run', '--state-dir', stateDir, '--http-listen', '127.0.0.1', '--http-port', String(relayPort), '--public-url', `http://127.0.0.1:${relayPort}`, '--cache-memory-bytes', values['cache-memory-bytes']!, ...lanPorts],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(relay);
  let out = '';
  relay.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  relay.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await until('the relay to start', () => out.includes('"relay running"'), 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  const idleRss = memory(relay.pid!);
  const relayUrl = `http://127.0.0.1:${relayPort}/files/${img.id}/${grant}`;
  const check = await get(relayUrl);
  if (createHash('sha256').update(check.body).digest('hex') !== sha256) throw new Error(`the relay served other bytes (${check.status})`);

  const nginxDir = tempDir('bench-nginx');
  const nginxPort = await freePort();
  const nginxArgs = nginxStaticConfig(nginxDir, { listen: `127.0.0.1:${nginxPort}`, root: join(stateDir, 'cache/objects') });
  const nginx = spawn(NGINX, nginxArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(nginx);
  const nginxUrl = `http://127.0.0.1:${nginxPort}/${sha256}`;
  await until('nginx to start', async () => (await get(nginxUrl).catch(() => ({ status: 0 }))).status === 200, 10_000);

  const results: { relay: WrkResult[]; nginx: WrkResult[] } = { relay: [], nginx: [] };
  for (let r = 0; r < rounds; r++) {
    results.nginx.push(await wrk(nginxUrl, { connections, seconds, timeoutSeconds: 30 }));
    results.relay.push(await wrk(relayUrl, { connections, seconds, timeoutSeconds: 30 }));
  }
  const loadedRss = memory(relay.pid!);
  const best = (xs: WrkResult[]) => xs.reduce((a, b) => (b.bytesPerSec > a.bytesPerSec ? b : a));
  const gib = (x: WrkResult) => (x.bytesPerSec / 1024 ** 3).toFixed(2);
  const row = (name: string, xs: WrkResult[]) => {
    const b = best(xs);
    return `${name.padEnd(8)} ${gib(b).padStart(6)} GiB/s  ${b.requestsPerSec.toFixed(1).padStart(7)} req/s  p50 ${b.p50Ms.toFixed(0)} ms  p99 ${b.p99Ms.toFixed(0)} ms  errors ${b.errors}  (rounds: ${xs.map(gib).join(', ')})`;
  };
  console.log(`64 MiB image, wrk ${connections} connections × ${seconds} s, best of ${rounds} rounds`);
  console.log(row('nginx', results.nginx));
  console.log(row('relay', results.relay));
  console.log(`ratio relay/nginx: ${(best(results.relay).bytesPerSec / best(results.nginx).bytesPerSec).toFixed(2)}× (target ≥ 0.8×)`);
  console.log(`relay memory: idle ${idleRss} (target ≤ 80 MB); after the load ${loadedRss}`);
} finally {
  for (const c of children.reverse()) await stopChild(c, c.spawnfile === NGINX ? 'SIGQUIT' : 'SIGTERM');
  await cloud.close();
}
