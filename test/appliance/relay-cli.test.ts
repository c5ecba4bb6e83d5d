/**
 * The relay's command line as a technician meets it: the bundle a site runs, started as a process,
 * against a real cloud (the app in this process) and real sockets. Each refusal must name what to
 * fix and exit with the status systemd acts on (relay/src/exit-codes.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedStartDelayMs } from '../../relay/src/cli/commands.ts';
import { EXIT } from '../../relay/src/exit-codes.ts';
import { saveCredentials } from '../../relay/src/sync/credentials.ts';
import { createSite, enrollmentCode } from '../contract/fixtures.ts';
import { call } from '../contract/target.ts';
import { relayMain } from '../relay/support/lan.ts';
import { startTestCloud, type TestCloud } from '../relay/support/test-cloud.ts';

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

function relay(args: string[], node = process.execPath): Promise<Ran> {
  return relayMain().then(
    (bundle) =>
      new Promise((resolve) => {
        execFile(node, [bundle, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? -1) : 0, stdout: String(stdout), stderr: String(stderr) });
        });
      }),
  );
}

let cloud: TestCloud;
let tmp: string;
beforeAll(async () => {
  cloud = await startTestCloud();
  tmp = mkdtempSync(join(tmpdir(), 'edgeboot-relay-cli-'));
  await relayMain();
});
afterAll(async () => {
  await cloud?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('edgeboot-relay usage', () => {
  it('prints usage for --help, run --help and enroll --help, with status 0', async () => {
    const top = await relay(['--help']);
    expect(top).toMatchObject({ status: 0 });
    expect(top.stdout).toContain('edgeboot-relay enroll --cloud URL --code CODE');
    const run = await relay(['run', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('--http-port');
    const enroll = await relay(['enroll', '--help']);
    expect(enroll.status).toBe(0);
    expect(enroll.stdout).toContain('--state-dir DIR');
    expect(`${top.stderr}${run.stderr}${enroll.stderr}`).toBe('');
  });

  it('refuses an unknown command or flag with status 64 and one line, no stack trace', async () => {
    const cmd = await relay(['frobnicate']);
    expect(cmd.status).toBe(EXIT.usage);
    expect(cmd.stderr).toMatch(/^edgeboot-relay: unknown command "frobnicate"/);
    const flag = await relay(['run', '--http-prot', '80']);
    expect(flag.status).toBe(EXIT.usage);
    expect(flag.stderr).toContain("Unknown option '--http-prot'");
    expect(flag.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints its version and architecture without reading package.json (the bundle stands alone)', async () => {
    const alone = join(tmp, 'alone');
    mkdirSync(alone);
    const copy = join(alone, 'edgeboot-relay.mjs');
    copyFileSync(await relayMain(), copy);
    const r = await new Promise<Ran>((resolve) => execFile(process.execPath, [copy, 'version'], (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr })));
    expect(r.status).toBe(0);
    const version = (JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;
    expect(r.stdout.trim()).toBe(`${version} linux-${process.arch}`);
  });

  it.skipIf(!isOldNode('/usr/bin/node'))('refuses a Node older than 22.12 with the version it needs, status 78', async () => {
    const r = await relay(['version'], '/usr/bin/node');
    expect(r.status).toBe(EXIT.config);
    expect(r.stderr).toContain('needs Node >= 22.12');
    expect(r.stderr).not.toContain('TypeError');
  });
});

/** The system's Node (Debian's is 20 on this machine), when it is older than the relay accepts. */
function isOldNode(path: string): boolean {
  if (!existsSync(path)) return false;
  const [major = 0, minor = 0] = String(execFileSync(path, ['-p', 'process.versions.node'])).trim().split('.').map(Number);
  return major < 22 || (major === 22 && minor < 12);
}

describe('edgeboot-relay enroll', () => {
  it('names the URL and the DNS failure when the cloud name does not resolve, status 69', async () => {
    const r = await relay(['enroll', '--cloud', 'http://edgeboot-cloud.invalid', '--code', 'ABCD-EFGH', '--state-dir', join(tmp, 'dns')]);
    expect(r.status).toBe(EXIT.unavailable);
    expect(r.stderr).toContain('cannot reach the cloud at http://edgeboot-cloud.invalid/v1/relays/enroll: DNS lookup of edgeboot-cloud.invalid failed');
    expect(r.stderr).toContain('The enrollment code was not used');
  });

  it('names the TCP failure when nothing listens at the cloud address', async () => {
    const port = await closedPort();
    const r = await relay(['enroll', '--cloud', `http://127.0.0.1:${port}`, '--code', 'ABCD-EFGH', '--state-dir', join(tmp, 'tcp')]);
    expect(r.status).toBe(EXIT.unavailable);
    expect(r.stderr).toContain(`TCP connection to 127.0.0.1:${port} failed (ECONNREFUSED`);
  });

  it('names the TLS failure when the cloud speaks something else on an https URL', async () => {
    // A plain TCP server that answers garbage to the ClientHello: the handshake fails.
    const server = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await relay(['enroll', '--cloud', `https://127.0.0.1:${port}`, '--code', 'ABCD-EFGH', '--state-dir', join(tmp, 'tls')]);
      expect(r.status).toBe(EXIT.unavailable);
      expect(r.stderr).toContain(`TLS handshake with 127.0.0.1 failed`);
    } finally {
      server.close();
    }
  });

  it('does not spend the code when the state directory cannot take the credentials, and the same code works once it can', async () => {
    const site = await createSite(cloud);
    const code = await enrollmentCode(cloud, site);
    const blocked = join(tmp, 'blocked');
    writeFileSync(blocked, 'a file where the state directory should be');
    const refused = await relay(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', join(blocked, 'state')]);
    expect(refused.status).toBe(EXIT.tempfail);
    expect(refused.stderr).toContain('the enrollment code was NOT used');
    expect((await call(cloud, 'GET', `/v1/relays?siteId=${site}`)).body.items).toEqual([]);

    const dir = join(tmp, 'ok');
    const done = await relay(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', dir, '--name', 'branch-7']);
    expect(done.status).toBe(0);
    expect(existsSync(join(dir, 'credentials.json'))).toBe(true);
    // Enrolled, not yet seen running: the cloud must not call it online.
    const [r] = (await call(cloud, 'GET', `/v1/relays?siteId=${site}`)).body.items;
    expect(r).toMatchObject({ name: 'branch-7', lastSeenAt: null });

    const again = await relay(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', join(tmp, 'again')]);
    expect(again.status).toBe(EXIT.config);
    expect(again.stderr).toContain('answered HTTP 410: enrollment code already used');
    expect(again.stderr).toContain('create a new one');
  });
});

describe('edgeboot-relay run', () => {
  let holder: Server;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  });
  afterAll(() => holder?.close());

  it('names the port in use and the process holding it, status 75 (worth retrying)', async () => {
    const port = (holder.address() as { port: number }).port;
    const dir = join(tmp, 'run-port');
    saveCredentials(dir, { cloudUrl: cloud.url, relayId: 'relay_x', siteId: 'site_x', token: 'ebt_x', bootKey: 'k', bootKeyId: 'kid', enrolledAt: new Date().toISOString() });
    const r = await relay(['run', '--state-dir', dir, '--http-listen', '127.0.0.1', '--http-port', String(port), '--public-url', `http://127.0.0.1:${port}`]);
    expect(r.status).toBe(EXIT.tempfail);
    expect(r.stderr).toContain(`TCP ${port} on 127.0.0.1 is in use by`);
    expect(r.stderr).toContain(`(pid ${process.pid})`);
  });

  it('refuses to run without credentials, status 78 (not retried), saying how to enroll', async () => {
    const r = await relay(['run', '--state-dir', join(tmp, 'empty'), '--http-port', '8080', '--public-url', 'http://127.0.0.1:8080']);
    expect(r.status).toBe(EXIT.config);
    expect(r.stderr).toContain('edgeboot-relay enroll --cloud URL --code CODE');
  });
});

function closedPort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  }));
}

describe('pacing of restarts under systemd', () => {
  it('makes a failed run under the launcher wait a second before it exits, and nothing else', () => {
    // The unit restarts after 100 ms (for updates); a port still held must not be retried 10 times a second.
    expect(failedStartDelayMs('run', EXIT.tempfail, true)).toBe(1000);
    expect(failedStartDelayMs('run', EXIT.crash, true)).toBe(1000);
    expect(failedStartDelayMs('run', EXIT.config, true)).toBe(1000);
    // A planned restart into an update, and a clean stop: at once.
    expect(failedStartDelayMs('run', EXIT.restart, true)).toBe(0);
    expect(failedStartDelayMs('run', EXIT.ok, true)).toBe(0);
    // A technician's commands and runs outside the launcher: at once.
    expect(failedStartDelayMs('enroll', EXIT.unavailable, true)).toBe(0);
    expect(failedStartDelayMs('run', EXIT.tempfail, false)).toBe(0);
  });

  it('restarts the unit 100 ms after an exit, and keeps refusing to retry usage and configuration errors', () => {
    const unit = readFileSync(join(import.meta.dirname, '../../relay/edgeboot-relay.service'), 'utf8');
    expect(unit).toMatch(/^RestartSec=100ms$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=64 78$/m);
  });
});
