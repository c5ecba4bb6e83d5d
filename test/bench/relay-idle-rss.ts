/**
 * Benchmark (not a test): the resident memory of the packaged relay (the single executable a site
 * box runs) once it is enrolled, synced with a real cloud and idle — the figure issue 13 bounds at
 * 80 MB. The executable enrolls itself with its own `enroll` command against the control plane in
 * this process, then `run`s (as the launcher starts it, so the self-updater runs too) on loopback
 * ports; after `--seconds` of idling, VmRSS is read from /proc/<pid>/status, with the anonymous,
 * file-backed and shared parts from /proc/<pid>/smaps_rollup. The executable's pages are dropped
 * from the page cache first (dd iflag=nocache), so it starts from disk as after a boot.
 *
 * Reference, idling beside it in the same run: the `node` binary the executable is built from (a
 * stripped copy, its pages dropped from the page cache too) with the executable's V8 flags and the
 * unit's environment, running a trivial server (HTTP on loopback, a UDP socket, a timer): what Node
 * itself costs, which no change to the relay can remove.
 *
 *   npm run bench:relay-rss [-- --exe dist/edgeboot-relay-0.1.0-linux-x64] [--seconds 60] [--node-options="--max-semi-space-size=1"] [--env MALLOC_ARENA_MAX=2] [--mappings] [--package]
 *
 * Without --exe it uses dist/edgeboot-relay-<package.json version>-linux-x64 (`--package` builds it
 * first with npm run package:relay). Only the PIDs started here are stopped.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { packageRelay, SEA_EXEC_ARGV } from '../../scripts/package-relay.ts';
import { freePort, tempDir, until } from '../relay/support/relay-harness.ts';
import { createSite, enrollmentCode, startTestCloud } from '../relay/support/test-cloud.ts';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { stopChild } from './lib/process.ts';

const { values } = parseArgs({ options: { exe: { type: 'string' }, seconds: { type: 'string', default: '60' }, 'node-options': { type: 'string', default: '' }, package: { type: 'boolean', default: false }, mappings: { type: 'boolean', default: false }, env: { type: 'string', multiple: true, default: [] } } });
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let exe = values.exe ?? join(REPO_ROOT, 'dist', `edgeboot-relay-${version}-linux-x64`);
if (values.package) exe = (await packageRelay({ version, deb: false })).executable;
if (!existsSync(exe)) {
  console.error(`${exe} is missing: npm run package:relay (or pass --package / --exe)`);
  process.exit(2);
}

function kb(text: string, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
}
/** Resident kB per mapping (file and permissions, or [heap]/anonymous), biggest first: where the memory is. */
function biggestMappings(pid: number, n = 12): string {
  const rss = new Map<string, number>();
  let current = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) current = `${head[2] || '[anonymous]'} ${head[1]}`;
    else if (line.startsWith('Rss:')) rss.set(current, (rss.get(current) ?? 0) + Number(line.split(/\s+/)[1]));
  }
  return [...rss].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${mib(v).padStart(10)}  ${k}`).join('\n');
}
/**
 * Resolves with the ms from `since` to the first TFTP DATA block answering an RRQ for `name`,
 * asking every 20 ms: how long a freshly started relay leaves PXE clients unanswered.
 */
function firstTftpAnswer(port: number, name: string, since: number): Promise<number> {
  const sock = createSocket('udp4');
  const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${name}\0octet\0`)]);
  return new Promise((resolve) => {
    const t = setInterval(() => sock.send(rrq, port, '127.0.0.1'), 20);
    sock.on('message', (msg, from) => {
      if (msg.readUInt16BE(0) !== 3) return;
      const at = performance.now() - since;
      clearInterval(t);
      // ERROR 0: this client is done (the transfer is not left to time out).
      sock.send(Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('done\0')]), from.port, from.address, () => (sock.close(), resolve(at)));
    });
    sock.send(rrq, port, '127.0.0.1');
  });
}
const mib = (k: number) => `${(k / 1024).toFixed(1)} MiB`;

/**
 * The reference: Node with a trivial HTTP + UDP server and a timer, nothing else. A stripped copy of
 * the binary the executable is made from, as the packager strips it: the original's pages are in the
 * page cache of every Node process running on this machine (tests, tools), mapped, so they could not
 * be dropped, and a warm cache maps more of a file per fault.
 */
const NODE_BINARY = join(tempDir('bench-relay-rss-node'), 'node');
copyFileSync(join(REPO_ROOT, 'node_modules/node/bin/node'), NODE_BINARY);
execFileSync('strip', ['--strip-all', NODE_BINARY]);
const TRIVIAL_SERVER = [
  "const http = require('node:http'), dgram = require('node:dgram');",
  "http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1');",
  "dgram.createSocket('udp4').on('message', () => {}).bind(0, '127.0.0.1');",
  'setInterval(() => {}, 1000);',
].join('\n');

// How much of the executable's file is resident depends on how its pages came into the page cache
// (a file just written by the packager sits in large folios, and a fault maps a whole folio: the
// same build measured 72 or 90 MiB for `version`). Start from disk, as a site box does after boot.
for (const file of [exe, NODE_BINARY]) {
  execFileSync('sync', [file]);
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

const cloud = await startTestCloud();
const stateDir = tempDir('bench-relay-rss');
const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_OPTIONS: values['node-options'], EDGEBOOT_RELAY_LAUNCHER: '1' };
// As systemd starts it: the unit's Environment= lines, then --env.
const unitEnv = [...readFileSync(join(REPO_ROOT, 'relay/edgeboot-relay.service'), 'utf8').matchAll(/^Environment=(\S+)$/gm)].map((m) => m[1]!);
for (const kv of [...unitEnv, ...values.env]) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
try {
  const site = await createSite(cloud);
  const code = await enrollmentCode(cloud, site);
  // Asynchronously: the cloud answering it runs in this process.
  await promisify(execFile)(exe, ['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', stateDir, '--name', 'bench-rss'], { env });
  const [http, dhcp, proxy, tftp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(stateDir, 'relay.toml');
  writeFileSync(
    config,
    [`state_dir = "${stateDir}"`, 'interface = "lo"', '[http]', 'listen = "127.0.0.1"', `port = ${http}`, `public_url = "http://127.0.0.1:${http}"`, '[dhcp]', `port = ${dhcp}`, `proxy_port = ${proxy}`, '[tftp]', `port = ${tftp}`, ''].join('\n'),
  );
  const spawnedAt = performance.now();
  const child = spawn(exe, ['run', '--config', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const tftpReady = firstTftpAnswer(tftp, 'undionly.kpxe', spawnedAt);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await until(
      'the relay to hold a snapshot',
      async () => {
        if (child.exitCode !== null) throw new Error(`the relay exited ${child.exitCode}: ${stderr.slice(-2000)}`);
        const r = await fetch(`http://127.0.0.1:${http}/healthz`).catch(() => null);
        return r?.ok && ((await r.json()) as { ok: boolean }).ok;
      },
      30_000,
    );
    console.log(`[measure] relay start (spawn) to its first TFTP answer: ${(await tftpReady).toFixed(0)} ms`);
    const started = kb(readFileSync(`/proc/${child.pid}/status`, 'utf8'), 'VmRSS');
    const reference = spawn(NODE_BINARY, [...SEA_EXEC_ARGV, '-e', TRIVIAL_SERVER], { env, stdio: 'ignore' });
    let referenceStatus: string;
    try {
      await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
      referenceStatus = readFileSync(`/proc/${reference.pid}/status`, 'utf8');
    } finally {
      await stopChild(reference);
    }
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8');
    if (values.mappings) console.log(biggestMappings(child.pid!));
    console.log(`executable ${exe}${values['node-options'] ? ` NODE_OPTIONS=${values['node-options']}` : ''} ${[...unitEnv, ...values.env].join(' ')}`);
    const split = (st: string) => `anon ${mib(kb(st, 'RssAnon'))}, file ${mib(kb(st, 'RssFile'))}, shmem ${mib(kb(st, 'RssShmem'))}`;
    console.log(`[measure] relay VmRSS once synced: ${mib(started)}; idle ${values.seconds} s later: ${mib(kb(status, 'VmRSS'))} (${split(status)}; PSS ${mib(kb(rollup, 'Pss'))}); peak ${mib(kb(status, 'VmHWM'))}`);
    console.log(`[measure] reference (node ${SEA_EXEC_ARGV.join(' ')}, a trivial HTTP + UDP server) idle ${values.seconds} s: ${mib(kb(referenceStatus, 'VmRSS'))} (${split(referenceStatus)})`);
    const [relayKb, referenceKb] = [kb(status, 'VmRSS'), kb(referenceStatus, 'VmRSS')];
    console.log(`ratio relay/reference: ${(relayKb / referenceKb).toFixed(2)}× (the relay's own: ${mib(relayKb - referenceKb)}); relay ${((relayKb * 1024) / 1e6).toFixed(1)} MB against the 80 MB bound`);
    // Its children: the native TFTP data path (edgeboot-tftp-pump), a process of its own.
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    const kidsKb = kids.reduce((sum, pid) => sum + kb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS'), 0);
    console.log(`[measure] the relay's child processes (its TFTP pump): ${kids.length}, VmRSS ${mib(kidsKb)}; relay and children ${(((relayKb + kidsKb) * 1024) / 1e6).toFixed(1)} MB`);
  } finally {
    await stopChild(child);
  }
} finally {
  await cloud.close();
  rmSync(dirname(NODE_BINARY), { recursive: true, force: true });
}
