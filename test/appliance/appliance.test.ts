/**
 * The relay as a site installs it, under a real systemd: a minimal Debian (debootstrap, cached)
 * booted with systemd-nspawn in a network namespace on a test LAN, with the control plane (the
 * Node entry) on the same LAN. The technician's pasted command installs the .deb from the cloud
 * (dpkg), enrolls and starts it; then the relay must serve DHCP, TFTP and HTTP to a client
 * namespace, run as its own user with CAP_NET_BIND_SERVICE only, come back after kill -9, survive
 * a reboot with its state, and update itself to a newer release from the cloud.
 *
 *   [client ns] ── LAN ── [box ns: nspawn Debian, systemd, edgeboot-relay.service]
 *                    └─── [cloud ns: node cloud/src/entry/node.ts on 10.77.5.1:8787]
 *
 * One container root, two boots (the second is the reboot). Figures (install time, RSS, update
 * downtime) are printed, never asserted.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignedRelease } from '../../shared/release/statement.ts';
import { packageRelay, type Packaged } from '../../scripts/package-relay.ts';
import { createTestbed, requireTools, type Spawned, type Testbed } from '../support/netns.ts';
import { copyOfDebianRoot } from './support/debian-root.ts';
import { bootBox, until, type Box } from './support/nspawn.ts';

requireTools(['debootstrap', 'systemd-nspawn', 'nsenter', 'dpkg-deb', 'curl', 'udhcpc']);

const ROOT = resolve(import.meta.dirname, '../..');
const CLOUD_IP = '10.77.5.1';
const BOX_IP = '10.77.5.2';
const CLOUD = `http://${CLOUD_IP}:8787`;
const ADMIN = 'ebt_applianceadmintoken0000000000000';

let bed: Testbed;
let work: string;
let cloud: Spawned;
let box: Box | null = null;
let rootDir: string;
let v1: Packaged;
let v2: Packaged;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  // The cloud lives in its namespace: reach it with curl from there.
  const args = ['-sS', '-X', method, '-H', `authorization: Bearer ${ADMIN}`, '-w', '\n%{http_code}'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (body instanceof Uint8Array || typeof body === 'string') {
    const f = join(work, `body-${Date.now()}-${Math.random()}`);
    writeFileSync(f, body);
    args.push('--data-binary', `@${f}`);
  } else if (body !== undefined) {
    args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  }
  const r = await bed.run('cloud', 'curl', [...args, `${CLOUD}${path}`], { timeoutMs: 120_000 });
  const i = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, i);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text
  }
  return { status: Number(r.stdout.slice(i + 1)), body: parsed };
}

/** `edgeboot relays publish` does the same: the statement in the query, the bytes (an executable gzip'd) as the body. */
async function publish(artifact: string): Promise<number> {
  const s = SignedRelease.parse(JSON.parse(readFileSync(`${artifact}.sig.json`, 'utf8')));
  const bytes = s.kind === 'executable' ? gzipSync(readFileSync(artifact), { level: 6 }) : readFileSync(artifact);
  const q = new URLSearchParams({ bytes: String(s.bytes), sha256: s.sha256, keyId: s.keyId, signature: s.signature });
  const r = await api('PUT', `/v1/relay-releases/${s.version}/${s.arch}/${s.kind}?${q}`, bytes, { 'content-type': 'application/octet-stream' });
  return r.status;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'edgeboot-appliance-'));
  // Two releases signed by the same (development) key: 0.1.0 is installed, 0.1.1 is the update.
  [v1, v2] = [await packageRelay({ version: '0.1.0', outDir: join(work, 'dist1') }), await packageRelay({ version: '0.1.1', outDir: join(work, 'dist2'), deb: false })];
  bed = await createTestbed('appl');
  await bed.lan('lan');
  for (const [n, ip] of [['cloud', `${CLOUD_IP}/24`], ['box', `${BOX_IP}/24`], ['client', undefined]] as const) {
    await bed.namespace(n);
    await bed.attach(n, 'lan', 'eth0', ip, { broadcastRoute: n !== 'box' });
  }
  // The box's way out is the cloud's LAN (install.sh picks the default route's interface).
  await bed.run('box', 'ip', ['route', 'add', 'default', 'via', CLOUD_IP]);
  const data = join(work, 'cloud-data');
  cloud = bed.spawn('cloud', process.execPath, ['cloud/src/entry/node.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: work, HOST: CLOUD_IP, PORT: '8787', EDGEBOOT_DATA: data, EDGEBOOT_ADMIN_TOKEN: ADMIN },
  });
  await cloud.waitForLine(/listening on/, 30_000);
  rootDir = await copyOfDebianRoot(join(work, 'root'));
}, 600_000);

afterAll(async () => {
  await box?.kill();
  await bed?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

const healthy = async (b: Box) => /"ok":true/.test((await b.sh('curl -fsS http://127.0.0.1:8080/healthz')).stdout);
const mainPid = async (b: Box) => Number((await b.sh('systemctl show -p MainPID --value edgeboot-relay')).stdout.trim());

describe('the relay appliance under systemd (nspawn)', () => {
  let relayId = '';

  it('installs from the pasted command: the .deb from the cloud, enrolled, started, online', async () => {
    expect(await publish(v1.deb!)).toBe(201);
    expect(await publish(v1.executable)).toBe(201);
    const site = await api('POST', '/v1/sites', { name: 'branch-42' });
    expect(site.status).toBe(201);
    const code = (await api('POST', `/v1/sites/${site.body.id}/enrollment-codes`, {})).body.code as string;

    box = await bootBox(rootDir, bed.ns('box'), 'ebappl');
    // The pasted command, as the console shows it.
    const started = Date.now();
    const install = await box.sh(`curl -fsSL ${CLOUD}/v1/relays/install.sh | sh -s -- --code ${code} --name branch-42-relay`, 300_000);
    const seconds = (Date.now() - started) / 1000;
    expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(install.stderr).toContain('relay online (0.1.0)');
    console.log(`[measure] install, pasted command to "relay online": ${seconds.toFixed(1)} s`);

    const relays = (await api('GET', `/v1/relays?siteId=${site.body.id}`)).body.items;
    expect(relays).toHaveLength(1);
    expect(relays[0]).toMatchObject({ name: 'branch-42-relay', version: '0.1.0' });
    expect(relays[0].lastSeenAt).not.toBeNull();
    relayId = relays[0].id;
    // The conffile got the LAN the box is on.
    expect((await box.sh('cat /etc/edgeboot/relay.toml')).stdout).toContain(`public_url = "http://${BOX_IP}:8080"`);
  }, 600_000);

  it('runs as its own user with CAP_NET_BIND_SERVICE only, and reports its systemd-analyze security score', async () => {
    const pid = await mainPid(box!);
    const status = (await box!.sh(`cat /proc/${pid}/status`)).stdout;
    const user = (await box!.sh(`stat -c %U /proc/${pid}`)).stdout.trim();
    expect(user).toBe('edgeboot-relay');
    // Bit 10 is CAP_NET_BIND_SERVICE: effective, permitted and bounding hold nothing else.
    for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) expect(new RegExp(`^${set}:\\s+0000000000000400$`, 'm').test(status), `${set} in\n${status}`).toBe(true);
    expect((await box!.sh(`stat -c '%U %a' /var/lib/edgeboot-relay /var/lib/edgeboot-relay/credentials.json`)).stdout.trim().split('\n')).toEqual(['edgeboot-relay 700', 'edgeboot-relay 600']);
    const security = await box!.sh('systemd-analyze security edgeboot-relay.service --no-pager');
    const score = /Overall exposure level for edgeboot-relay.service: (\S+ \S+)/.exec(security.stdout)?.[1];
    expect(score, security.stdout + security.stderr).toBeDefined();
    console.log(`[measure] systemd-analyze security edgeboot-relay.service: ${score}`);
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    console.log(`[measure] relay RSS after install: ${(Number(rss) / 1024).toFixed(1)} MiB`);
  }, 120_000);

  it('serves TFTP and HTTP to the LAN, and DHCP once the operator switches it to dhcp mode', async () => {
    const manifest = JSON.parse((await box!.sh('cat /var/lib/edgeboot-relay/boot-files/*/manifest.json')).stdout) as { files: Record<string, { sha256: string }> };
    await bed.run('client', 'ip', ['addr', 'add', '10.77.5.50/24', 'dev', 'eth0']);
    const tftp = await bed.run('client', 'sh', ['-c', `curl -fsS --tftp-blksize 1468 tftp://${BOX_IP}/undionly.kpxe | sha256sum`], { timeoutMs: 30_000 });
    expect(tftp.stdout.split(' ')[0]).toBe(manifest.files['undionly.kpxe']!.sha256);
    // Sent by the native data path the executable carries (copied out under the state dir, run under the unit's sandbox).
    const started = await box!.sh(`journalctl -u edgeboot-relay -o cat --no-pager | grep 'tftp listening' | tail -1; ls /var/lib/edgeboot-relay/native/*/`);
    expect(started.stdout).toMatch(/"dataPath":"native"[\s\S]*edgeboot-tftp-pump/);
    // So is the memory module (relay/native/memory.c), loaded by the relay under the same sandbox.
    expect(started.stdout).toContain('edgeboot-memory.node');
    const metrics = await bed.run('client', 'curl', ['-fsS', `http://${BOX_IP}:8080/metrics`], { timeoutMs: 20_000 });
    expect(metrics.stdout).toMatch(/^edgeboot_relay_malloc_free_bytes \d+$/m);
    const http = await bed.run('client', 'curl', ['-fsS', `http://${BOX_IP}:8080/healthz`], { timeoutMs: 20_000 });
    expect(http.stdout).toContain(`"relayId":"${relayId}"`);
    await bed.run('client', 'ip', ['addr', 'flush', 'dev', 'eth0']);

    await box!.sh(`sed -i 's/^mode = "proxy"/mode = "dhcp"/' /etc/edgeboot/relay.toml && printf '\\n[dhcp]\\nrange = ["10.77.5.100", "10.77.5.110"]\\nrouters = ["${CLOUD_IP}"]\\n' >> /etc/edgeboot/relay.toml && systemctl restart edgeboot-relay`);
    await until('the relay back after the restart', async () => healthy(box!), 60_000);
    const script = join(work, 'udhcpc.sh');
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip serverid=$serverid"\nexit 0\n');
    chmodSync(script, 0o755);
    const dhcp = await bed.run('client', 'udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    expect(dhcp.stdout, dhcp.stderr).toMatch(new RegExp(`bound ip=10\\.77\\.5\\.1(0\\d|10) serverid=${BOX_IP.replace(/\./g, '\\.')}`));
  }, 120_000);

  it('is restarted by systemd after kill -9', async () => {
    const before = await mainPid(box!);
    await box!.sh(`kill -9 ${before}`);
    const after = await until('a new main PID', async () => {
      const p = await mainPid(box!);
      return p !== 0 && p !== before ? p : null;
    }, 30_000);
    expect(after).not.toBe(before);
    await until('the restarted relay to serve', async () => healthy(box!), 60_000);
  }, 120_000);

  it('updates itself to the release the cloud asks for, verified, and reports it', async () => {
    // Quick checks for the test; sites keep the default (every 5 minutes).
    await box!.sh('mkdir -p /etc/systemd/system/edgeboot-relay.service.d && printf "[Service]\\nEnvironment=EDGEBOOT_RELAY_UPDATE_INTERVAL_S=1\\n" > /etc/systemd/system/edgeboot-relay.service.d/test.conf && systemctl daemon-reload && systemctl restart edgeboot-relay');
    await until('the relay to serve', async () => healthy(box!), 60_000);
    expect(await publish(v2.executable)).toBe(201);
    // TFTP probes from the client while the relay swaps releases: the longest gap is the downtime.
    await bed.run('client', 'ip', ['addr', 'add', '10.77.5.51/24', 'dev', 'eth0']);
    const probe = bed.spawn('client', 'sh', ['-c', `while :; do if curl -fsS --max-time 1 -o /dev/null tftp://${BOX_IP}/undionly.kpxe; then echo "ok $(date +%s%N)"; else echo "fail $(date +%s%N)"; fi; sleep 0.05; done`]);
    const set = await api('PUT', '/v1/relay-releases/desired', { version: '0.1.1' });
    expect(set.status).toBe(200);
    const updated = await until('the relay to report 0.1.1 updated', async () => {
      const r = (await api('GET', `/v1/relays/${relayId}`)).body;
      return r.version === '0.1.1' && r.update?.state === 'updated' ? r : null;
    }, 180_000);
    expect(updated).toMatchObject({ desiredVersion: '0.1.1', update: { state: 'updated', version: '0.1.1', reason: null } });
    await new Promise((r) => setTimeout(r, 1000));
    await probe.kill();
    const oks = probe.stdout.filter((l) => l.startsWith('ok ')).map((l) => Number(l.split(' ')[1]) / 1e6);
    let gap = 0;
    for (let i = 1; i < oks.length; i++) gap = Math.max(gap, oks[i]! - oks[i - 1]!);
    console.log(`[measure] update 0.1.0 → 0.1.1: longest gap between TFTP answers ${(gap / 1000).toFixed(2)} s (${probe.stdout.filter((l) => l.startsWith('fail')).length} failed probes)`);
    expect((await box!.sh('readlink /var/lib/edgeboot-relay/releases/current')).stdout.trim()).toBe('0.1.1/edgeboot-relay');
    await bed.run('client', 'ip', ['addr', 'flush', 'dev', 'eth0']);
  }, 300_000);

  it('survives a reboot of the box with its state: same relay, same credentials, serving again', async () => {
    const creds = (await box!.sh('sha256sum /var/lib/edgeboot-relay/credentials.json')).stdout;
    await box!.poweroff();
    box = await bootBox(rootDir, bed.ns('box'), 'ebappl');
    await until('the relay to serve after the reboot', async () => healthy(box!), 120_000);
    expect((await box.sh('sha256sum /var/lib/edgeboot-relay/credentials.json')).stdout).toBe(creds);
    const h = JSON.parse((await box.sh('curl -fsS http://127.0.0.1:8080/healthz')).stdout);
    expect(h).toMatchObject({ ok: true, relayId });
    // Still the release it updated to, from the state directory.
    expect((await box.sh('/var/lib/edgeboot-relay/releases/current version')).stdout.trim()).toBe('0.1.1 linux-x64');
    const pid = await mainPid(box);
    await new Promise((r) => setTimeout(r, 20_000));
    const rss = /^VmRSS:\s+(\d+) kB/m.exec((await box.sh(`cat /proc/${pid}/status`)).stdout)?.[1];
    console.log(`[measure] idle RSS 20 s after boot: ${(Number(rss) / 1024).toFixed(1)} MiB`);
  }, 300_000);
});

export const _sizes = () => [v1.executable, v1.deb].map((f) => f && `${f} ${statSync(f).size} ${createHash('sha256').update(readFileSync(f)).digest('hex')}`);
