import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/spawned-entry.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'edgeboot-wrangler-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** wrangler on the Node running vitest (Node 24), offline, writing nothing outside `scratch`. */
const wrangler = (...args: string[]) =>
  run(process.execPath, [join(REPO_ROOT, 'node_modules/wrangler/bin/wrangler.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', WRANGLER_LOG_PATH: join(scratch, 'logs') },
  });

// What a user with an account runs; both read wrangler.toml, so a broken binding or path shows here.
describe('wrangler.toml', () => {
  it('bundles the worker for deploy, with the D1 and R2 bindings and no Node built-ins', async () => {
    const out = join(scratch, 'bundle');
    const { stdout } = await wrangler('deploy', '--dry-run', '--outdir', out);
    expect(stdout).toMatch(/env\.DB \(edgeboot\)\s+D1 Database/);
    expect(stdout).toMatch(/env\.IMAGES \(edgeboot-images\)\s+R2 Bucket/);
    const bundle = readdirSync(out).find((f) => f.endsWith('.js'));
    expect(readFileSync(join(out, bundle!), 'utf8')).not.toMatch(/from ["']node:/);
  });

  it('applies cloud/migrations to a local D1', async () => {
    const { stdout } = await wrangler('d1', 'migrations', 'apply', 'edgeboot', '--local', '--persist-to', join(scratch, 'state'));
    for (const file of readdirSync(join(REPO_ROOT, 'cloud/migrations')).filter((f) => f.endsWith('.sql'))) expect(stdout).toContain(file);
    expect(stdout).toMatch(/✅/);
  });
});
