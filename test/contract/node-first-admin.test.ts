import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, type ApiTarget } from './target.ts';

const ENTRY = new URL('../../cloud/src/entry/node.ts', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts the Node entry on a free port and waits for its "listening on" line. */
function start(dataDir: string): Promise<Started> {
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, EDGEBOOT_DATA: dataDir, PORT: '0', HOST: '127.0.0.1', EDGEBOOT_ADMIN_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Node entry did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the Node entry exited (${code}):\n${out}`)));
  });
}

function stop(s: Started): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null) return resolve();
    s.child.once('exit', () => resolve());
    s.child.kill('SIGTERM');
  });
}

function target(url: string, adminToken: string): ApiTarget {
  return { name: 'node-entry', adminToken, fetch: (path, init) => fetch(url + path, init) };
}

describe('Node entry: first admin token', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeboot-first-admin-'));
  const running: Started[] = [];
  afterAll(async () => {
    await Promise.all(running.map(stop));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints an admin token once on first start; it works, is audited, and survives a restart', async () => {
    const first = await start(dataDir);
    running.push(first);
    const secret = /\b(ebt_[0-9a-z]{32})\b/.exec(first.output())?.[1];
    expect(secret, first.output()).toBeDefined();
    const t = target(first.url, secret!);

    const site = await call(t, 'POST', '/v1/sites', { json: { name: 'first-site' } });
    expect(site.status).toBe(201);
    const refused = await call(t, 'POST', '/v1/sites', { token: null, json: { name: 'anon-site' } });
    expect(refused.status).toBe(401);

    const me = ((await call(t, 'GET', '/v1/tokens')).body.items as { id: string; name: string; role: string }[]).find((x) => x.name === 'first-admin');
    expect(me?.role).toBe('admin');
    const audit = (await call(t, 'GET', '/v1/audit?limit=10')).body.items as { actor: string; action: string; status: number; target: string | null }[];
    expect(audit).toContainEqual(expect.objectContaining({ actor: me!.id, action: 'POST /v1/sites', status: 201, target: site.body.id }));
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'anonymous', action: 'POST /v1/sites', status: 401, target: null }));
    await stop(first);

    const second = await start(dataDir);
    running.push(second);
    expect(second.output()).not.toMatch(/ebt_[0-9a-z]{32}/);
    expect((await call(target(second.url, secret!), 'GET', `/v1/sites/${site.body.id}`)).status).toBe(200);
  });
});
