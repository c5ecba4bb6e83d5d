import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { makeCli, REPO_ROOT, startCloud, type Cli } from './support.ts';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('edgeboot login, config file and environment (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  let configFile: string;

  beforeAll(async () => {
    entry = await startCloud('cli-config');
    cli = await makeCli(entry, { login: false });
    configFile = join(cli.home, 'config/edgeboot/config.json');
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  it('refuses to work before a login, and says how to log in', async () => {
    const r = await cli.run(['sites', 'list']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('error: not logged in: no API URL');
    expect(r.stderr).toContain('hint: run `edgeboot login --url URL --token TOKEN`, or set EDGEBOOT_URL and EDGEBOOT_TOKEN');
  });

  it('checks the token against the API before saving anything', async () => {
    const bad = await cli.run(['login', '--url', entry.baseUrl, '--token', 'ebt_thisisnotavalidtokenatall000000']);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('HTTP 401');
    expect(existsSync(configFile)).toBe(false);
    const unreachable = await cli.run(['login', '--url', 'http://127.0.0.1:9', '--token', entry.adminToken]);
    expect(unreachable.code).toBe(6);
    expect(unreachable.stderr).toContain('cannot reach http://127.0.0.1:9');
    expect(existsSync(configFile)).toBe(false);
    const notUrl = await cli.run(['login', '--url', 'ftp://x', '--token', entry.adminToken]);
    expect(notUrl.code).toBe(2);
    expect((await cli.run(['login', '--url', entry.baseUrl])).code).toBe(2);
  });

  it('saves URL and token in $XDG_CONFIG_HOME/edgeboot/config.json with mode 0600 in a 0700 directory', async () => {
    const r = await cli.run(['login', '--url', `${entry.baseUrl}/`, '--token-stdin'], { input: `${entry.adminToken}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`logged in to ${entry.baseUrl} (saved to ${configFile})`);
    expect(modeOf(configFile)).toBe(0o600);
    expect(modeOf(join(cli.home, 'config/edgeboot'))).toBe(0o700);
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toMatchObject({ url: entry.baseUrl, token: entry.adminToken });
    const status = await cli.run(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^url:\\s+${entry.baseUrl} \\(from ${configFile}\\)$`, 'm'));
    expect(status.stdout).toContain(`${entry.adminToken.slice(0, 8)}…`);
    expect(status.stdout).not.toContain(entry.adminToken);
    expect((await cli.run(['sites', 'list'])).code).toBe(0);
  });

  it('falls back to ~/.config without XDG_CONFIG_HOME', async () => {
    const other = await makeCli(entry, { login: false });
    try {
      const r = await other.run(['login', '--url', entry.baseUrl, '--token', entry.adminToken], { env: { XDG_CONFIG_HOME: undefined } });
      expect(r.code, r.stderr).toBe(0);
      const file = join(other.home, '.config/edgeboot/config.json');
      expect(modeOf(file)).toBe(0o600);
      expect((await other.run(['--json', 'status'], { env: { XDG_CONFIG_HOME: undefined } })).json().urlFrom).toBe(file);
    } finally {
      other.cleanup();
    }
  });

  it('lets EDGEBOOT_TOKEN, EDGEBOOT_URL and --url override the saved login', async () => {
    const badToken = await cli.run(['sites', 'list'], { env: { EDGEBOOT_TOKEN: 'ebt_wrongwrongwrongwrongwrongwrong00' } });
    expect(badToken.code).toBe(4);
    const badUrl = await cli.run(['sites', 'list'], { env: { EDGEBOOT_URL: 'http://127.0.0.1:9' } });
    expect(badUrl.code).toBe(6);
    expect(badUrl.stderr).toContain('cannot reach http://127.0.0.1:9');
    // --url wins over EDGEBOOT_URL.
    expect((await cli.run(['sites', 'list', '--url', entry.baseUrl], { env: { EDGEBOOT_URL: 'http://127.0.0.1:9' } })).code).toBe(0);
    const status = (await cli.run(['--json', 'status'], { env: { EDGEBOOT_URL: entry.baseUrl, EDGEBOOT_TOKEN: entry.adminToken } })).json();
    expect(status).toMatchObject({ urlFrom: 'EDGEBOOT_URL', tokenFrom: 'EDGEBOOT_TOKEN', accepted: true });
  });

  it('warns when the config file is readable by others', async () => {
    chmodSync(configFile, 0o644);
    const r = await cli.run(['sites', 'list']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`warning: ${configFile} is readable by others (mode 644); run: chmod 600 ${configFile}`);
    chmodSync(configFile, 0o600);
    expect((await cli.run(['sites', 'list'])).stderr).toBe('');
  });

  it('forgets the login on logout', async () => {
    const r = await cli.run(['logout']);
    expect(r.stdout).toContain(`removed ${configFile}`);
    expect(existsSync(configFile)).toBe(false);
    expect((await cli.run(['sites', 'list'])).code).toBe(4);
    expect((await cli.run(['logout'])).stdout).toContain('not logged in');
  });

  it('answers usage errors with exit 2 and --help with exit 0, on every level', async () => {
    const unknown = await cli.run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
    expect((await cli.run(['sites', 'list', '--bogus'])).code).toBe(2);
    expect((await cli.run(['sites', 'show'])).code).toBe(2); // missing argument
    expect((await cli.run(['sites', 'show', 'a', 'b'])).code).toBe(2); // one too many
    const root = await cli.run(['--help']);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain('Exit codes:');
    expect(root.stdout).toMatch(/^ {2}6 {4}API unreachable, timed out, or 5xx: retrying may help$/m);
    const leaf = await cli.run(['machines', 'list', '--help']);
    expect(leaf.code).toBe(0);
    expect(leaf.stdout).toContain('--label <key=value>');
    expect(leaf.stdout).toContain('Exit codes: 0 ok, 1 error, 2 usage, 3 not found');
    expect((await cli.run(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('runs from its sources through the bin, which refuses a Node older than 22.12 with a message', async () => {
    const bin = join(REPO_ROOT, 'cli/bin/edgeboot.mjs');
    const fromSource = await makeCli(entry, { program: bin });
    try {
      const r = await fromSource.run(['--json', 'sites', 'list']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toEqual([]);
    } finally {
      fromSource.cleanup();
    }
    // The machine's own Node, when it is an old one (Debian's is 20), must get a clear refusal.
    const systemNode = '/usr/bin/node';
    const version = existsSync(systemNode) ? execFileSync(systemNode, ['--version'], { encoding: 'utf8' }).trim().slice(1) : null;
    const [major, minor] = (version ?? '0.0').split('.').map(Number) as [number, number];
    if (version && (major < 22 || (major === 22 && minor < 12))) {
      let out = '';
      let code = 0;
      try {
        execFileSync(systemNode, [bin, 'sites', 'list'], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        out = (err as { stderr: string }).stderr;
        code = (err as { status: number }).status;
      }
      expect(code).toBe(1);
      expect(out).toContain(`edgeboot: this CLI needs Node >= 22.12, but it runs on Node ${version}`);
      expect(out).toContain('node_modules/.bin/node cli/bin/edgeboot.mjs');
    }
  });
});
