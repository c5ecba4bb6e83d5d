/**
 * Self-update against a real cloud (the app over HTTP, releases published through its routes) and
 * real executables (small shell scripts standing in for the relay: the updater runs each once to
 * prove it executes). Every bad input of the issue is refused with one clear log line and a
 * `refused` report, and nothing is staged: the running relay is never asked to restart.
 * The launcher (relay/packaging/launcher.sh) is run as systemd runs it.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signRelease, type SignedRelease } from '../../shared/release/statement.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient, type CloudClient } from '../../relay/src/sync/cloud-client.ts';
import { Updater } from '../../relay/src/update/updater.ts';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import { call } from '../contract/target.ts';
import { startTestCloud, type TestCloud } from '../relay/support/test-cloud.ts';

const LAUNCHER = resolve(import.meta.dirname, '../../relay/packaging/launcher.sh');

function edKey(): JsonWebKey & { kid: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { ...(privateKey.export({ format: 'jwk' }) as JsonWebKey), kid: `k${randomBytes(3).toString('hex')}` };
}
const pub = (k: JsonWebKey & { kid: string }) => ({ kty: k.kty, crv: k.crv, x: k.x, kid: k.kid });

/** A stand-in relay: a shell script that says `<says>` to `version`. */
const fakeRelay = (says: string) => Buffer.from(`#!/bin/sh\n[ "$1" = version ] && echo "${says}"\nexit 0\n# ${randomBytes(8).toString('hex')}\n`);

let cloud: TestCloud;
let tmp: string;
let trusted: JsonWebKey & { kid: string };
let lines: string[];

beforeAll(async () => {
  cloud = await startTestCloud();
  tmp = mkdtempSync(join(tmpdir(), 'edgeboot-updater-'));
  trusted = edKey();
});
afterAll(async () => {
  await cloud?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function publish(s: SignedRelease, stored: Buffer): Promise<number> {
  const q = new URLSearchParams({ bytes: String(s.bytes), sha256: s.sha256, keyId: s.keyId, signature: s.signature });
  return (await call(cloud, 'PUT', `/v1/relay-releases/${s.version}/${s.arch}/${s.kind}?${q}`, { body: new Uint8Array(stored), headers: { 'content-type': 'application/octet-stream' } })).status;
}

async function sign(version: string, bytes: Buffer, key = trusted, arch: 'x64' | 'arm64' = 'x64'): Promise<SignedRelease> {
  const { createHash } = await import('node:crypto');
  return signRelease({ version, arch, kind: 'executable', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }, key);
}

interface Rig {
  updater: Updater;
  dir: string;
  restarts: string[];
  relayId: string;
  client: CloudClient;
}

/** A relay of a fresh site running 0.1.0, whose site is pinned to `version`. */
async function rig(opts: { pin?: string; baseUrl?: string; arch?: string; execPath?: string; healthy?: () => boolean } = {}): Promise<Rig> {
  const site = await createSite(cloud);
  const { relayId, token } = await enrollRelay(cloud, site);
  if (opts.pin) expect((await call(cloud, 'PUT', '/v1/relay-releases/desired', { json: { version: opts.pin, siteId: site } })).status).toBe(200);
  const dir = join(tmp, relayId);
  const client = createCloudClient({ baseUrl: opts.baseUrl ?? cloud.url, token, retries: 0 });
  const updater = new Updater({
    dir,
    version: '0.1.0',
    arch: opts.arch ?? 'x64',
    keys: [pub(trusted)],
    client,
    log: createLogger({ component: 'update', write: (l) => void lines.push(l) }),
    execPath: opts.execPath ?? process.execPath,
    healthy: opts.healthy ?? (() => true),
    healthBoundMs: 1_500,
  });
  const restarts: string[] = [];
  updater.onRestart((r) => restarts.push(r));
  return { updater, dir, restarts, relayId, client };
}

async function relayUpdate(relayId: string) {
  return (await call(cloud, 'GET', `/v1/relays/${relayId}`)).body.update;
}

beforeEach(() => {
  lines = [];
});

describe('self-update: a good release', () => {
  it('downloads, verifies, runs once and stages the release as the trial, reporting restarting', async () => {
    const exe = fakeRelay('0.2.0 linux-x64');
    expect(await publish(await sign('0.2.0', exe), gzipSync(exe))).toBe(201);
    const r = await rig({ pin: '0.2.0' });
    expect(await r.updater.check()).toEqual({ action: 'staged', version: '0.2.0' });
    expect(readlinkSync(join(r.dir, 'trial'))).toBe('0.2.0/edgeboot-relay');
    expect(readFileSync(join(r.dir, '0.2.0/edgeboot-relay'))).toEqual(exe);
    expect(await relayUpdate(r.relayId)).toMatchObject({ state: 'restarting', version: '0.2.0' });
    await r.client.close();
  });

  it('rolls a trial back when it is not healthy within the bound, and the relay started next reports why', async () => {
    const exe = fakeRelay('0.3.0 linux-x64');
    expect(await publish(await sign('0.3.0', exe), gzipSync(exe))).toBe(201);
    const staged = await rig({ pin: '0.3.0' });
    expect((await staged.updater.check()).action).toBe('staged');
    // The trial starts (as the launcher would start it) and never gets a confirmed snapshot.
    const trial = new Updater({ ...(staged.updater as unknown as { opts: ConstructorParameters<typeof Updater>[0] }).opts, version: '0.3.0', execPath: join(staged.dir, '0.3.0/edgeboot-relay'), healthy: () => false, healthBoundMs: 1_000 });
    const restarts: string[] = [];
    trial.onRestart((r) => restarts.push(r));
    expect(await trial.settle(new AbortController().signal)).toBe('rolled-back');
    expect(restarts).toEqual(['rollback']);
    expect(existsSync(join(staged.dir, 'trial'))).toBe(false);
    // The previous release starts again and reports the rollback, once.
    expect(await staged.updater.settle(new AbortController().signal)).toBe('not-a-trial');
    expect(await relayUpdate(staged.relayId)).toMatchObject({ state: 'rolled-back', version: '0.3.0', reason: 'not healthy within 1 s: no snapshot confirmed by the cloud' });
    // …and does not try that version again.
    expect(await staged.updater.check()).toMatchObject({ action: 'none' });
    await staged.client.close();
  });
});

describe('self-update: bad input is refused, nothing staged, no restart', () => {
  async function refusedWith(r: Rig, reason: RegExp) {
    const out = await r.updater.check();
    expect(out.action).toBe('refused');
    expect((out as { reason: string }).reason).toMatch(reason);
    expect(existsSync(join(r.dir, 'trial'))).toBe(false);
    expect(r.restarts).toEqual([]);
    expect((await relayUpdate(r.relayId))).toMatchObject({ state: 'refused' });
    expect(lines.filter((l) => l.includes('update refused'))).toHaveLength(1);
    await r.client.close();
  }

  it('refuses a tampered artifact (same size, other bytes) by its sha256', async () => {
    const exe = fakeRelay('0.4.0 linux-x64');
    const evil = Buffer.from(exe);
    evil[evil.length - 3] = evil[evil.length - 3]! ^ 1;
    expect(await publish(await sign('0.4.0', exe), gzipSync(evil))).toBe(201);
    await refusedWith(await rig({ pin: '0.4.0' }), /sha256 is [0-9a-f]{64}, not the signed [0-9a-f]{64} \(tampered or damaged\)/);
  });

  it('refuses a truncated artifact', async () => {
    const exe = fakeRelay('0.4.1 linux-x64');
    expect(await publish(await sign('0.4.1', exe), gzipSync(exe.subarray(0, exe.length - 10)))).toBe(201);
    await refusedWith(await rig({ pin: '0.4.1' }), /truncated: \d+ of the signed \d+ bytes/);
  });

  it('refuses a release signed by a key it does not trust', async () => {
    const exe = fakeRelay('0.4.2 linux-x64');
    expect(await publish(await sign('0.4.2', exe, edKey()), gzipSync(exe))).toBe(201);
    await refusedWith(await rig({ pin: '0.4.2' }), /signed by key k[0-9a-f]+, which this relay does not trust/);
  });

  it('refuses a signature that does not cover the statement (a trusted key id, bytes signed for another version)', async () => {
    const exe = fakeRelay('0.4.3 linux-x64');
    const other = await sign('0.4.4', exe);
    const forged = { ...(await sign('0.4.3', exe)), signature: other.signature };
    expect(await publish(forged, gzipSync(exe))).toBe(201);
    await refusedWith(await rig({ pin: '0.4.3' }), /does not match the release's version, architecture, size and sha256/);
  });

  it('refuses an executable that says it is built for another architecture', async () => {
    const exe = fakeRelay('0.4.5 linux-arm64');
    expect(await publish(await sign('0.4.5', exe), gzipSync(exe))).toBe(201);
    await refusedWith(await rig({ pin: '0.4.5' }), /says it is "0\.4\.5 linux-arm64", not 0\.4\.5 linux-x64/);
  });

  it('refuses a downgrade', async () => {
    const exe = fakeRelay('0.0.9 linux-x64');
    expect(await publish(await sign('0.0.9', exe), gzipSync(exe))).toBe(201);
    await refusedWith(await rig({ pin: '0.0.9' }), /0\.0\.9 is older than the running 0\.1\.0: downgrades are refused/);
  });

  describe('from a cloud that serves garbage', () => {
    let fake: Server;
    let answer: (path: string) => { status: number; body: string | Buffer };
    beforeAll(async () => {
      fake = createServer((req, res) => {
        if (req.method === 'POST') {
          // Reports go to the real cloud's record in these tests only through check()'s report(): accept.
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          return;
        }
        const a = answer(req.url ?? '');
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
      });
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    });
    afterAll(() => fake?.close());
    const url = () => `http://127.0.0.1:${(fake.address() as { port: number }).port}`;

    for (const [what, body] of [
      ['not JSON', '<html>502 Bad Gateway</html>'],
      ['a wrong shape', '{"desired":"0.9.0"}'],
      ['a path outside the release routes', JSON.stringify({ desired: { version: '0.9.0', arch: 'x64', kind: 'executable', bytes: 10, sha256: 'a'.repeat(64), keyId: 'k1', signature: 'A'.repeat(86), path: '/etc/passwd' } })],
    ] as const) {
      it(`refuses a release description that is ${what}`, async () => {
        answer = () => ({ status: 200, body });
        const r = await rig({ baseUrl: url() });
        const out = await r.updater.check();
        expect(out).toMatchObject({ action: 'refused', reason: expect.stringContaining("the cloud's release description is not one") });
        expect(existsSync(join(r.dir, 'trial'))).toBe(false);
        expect(r.restarts).toEqual([]);
        await r.client.close();
      });
    }

    it('refuses a release for another architecture', async () => {
      const exe = fakeRelay('0.9.0 linux-arm64');
      const s = await sign('0.9.0', exe, trusted, 'arm64');
      answer = () => ({ status: 200, body: JSON.stringify({ desired: { ...s, path: '/v1/relay/releases/0.9.0/arm64/executable' } }) });
      const r = await rig({ baseUrl: url() });
      expect(await r.updater.check()).toMatchObject({ action: 'refused', reason: 'the release is for arm64, this relay runs on x64' });
      await r.client.close();
    });

    it('refuses bytes that are not a gzip stream', async () => {
      const exe = fakeRelay('0.9.1 linux-x64');
      const s = await sign('0.9.1', exe);
      answer = (path) => (path.startsWith('/v1/relay/release?') ? { status: 200, body: JSON.stringify({ desired: { ...s, path: '/v1/relay/releases/0.9.1/x64/executable' } }) } : { status: 200, body: exe });
      const r = await rig({ baseUrl: url() });
      expect(await r.updater.check()).toMatchObject({ action: 'refused', reason: expect.stringMatching(/^downloading \/v1\/relay\/releases\/0\.9\.1\/x64\/executable failed: incorrect header check/) });
      expect(existsSync(join(r.dir, 'trial'))).toBe(false);
      await r.client.close();
    });
  });
});

describe('the launcher (relay/packaging/launcher.sh)', () => {
  function launch(state: string): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) =>
      execFile('sh', [LAUNCHER, 'version'], { env: { PATH: process.env.PATH, EDGEBOOT_RELAY_STATE: state } }, (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr })),
    );
  }

  it('starts the trial three times, then gives up on it, records why and starts current', async () => {
    const state = join(tmp, 'launcher');
    const rel = join(state, 'releases');
    for (const [v, script] of [['0.5.0', '#!/bin/sh\necho "current 0.5.0 $EDGEBOOT_RELAY_LAUNCHER"\n'], ['0.6.0', '#!/bin/sh\necho "trial 0.6.0"\nexit 1\n']] as const) {
      mkdirSync(join(rel, v), { recursive: true });
      writeFileSync(join(rel, v, 'edgeboot-relay'), script);
      chmodSync(join(rel, v, 'edgeboot-relay'), 0o755);
    }
    symlinkSync('0.5.0/edgeboot-relay', join(rel, 'current'));
    symlinkSync('0.6.0/edgeboot-relay', join(rel, 'trial'));
    for (let i = 0; i < 3; i++) expect((await launch(state)).stdout).toBe('trial 0.6.0\n');
    const fourth = await launch(state);
    expect(fourth.stdout).toBe('current 0.5.0 1\n');
    expect(fourth.stderr).toContain('release 0.6.0 stopped 3 times before it was healthy');
    expect(JSON.parse(readFileSync(join(rel, 'failed.json'), 'utf8'))).toMatchObject({ version: '0.6.0', reason: 'the new release stopped before it was healthy, 3 times' });
    expect(existsSync(join(rel, 'trial'))).toBe(false);
  });
});
