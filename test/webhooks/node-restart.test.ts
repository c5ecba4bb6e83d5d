import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySignature } from '../../cloud/src/webhooks/signature.ts';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import { call, type ApiTarget } from '../contract/target.ts';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { startReceiver, until } from './receiver.ts';

const ADMIN = 'ebt_webhookrestartadmintoken00000000';

interface Running extends ApiTarget {
  child: ChildProcess;
  exited: Promise<void>;
}

/** The Node entry as `npm start` runs it, on a data folder that outlives it; killed by its own pid only. */
async function startNode(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, ['cloud/src/entry/node.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      EDGEBOOT_DATA: dataDir,
      EDGEBOOT_ADMIN_TOKEN: ADMIN,
      PORT: '0',
      // The receiver is on this machine's loopback: the operator allows it, and plain http.
      EDGEBOOT_WEBHOOK_ALLOW_NETS: '127.0.0.0/8',
      EDGEBOOT_WEBHOOK_ALLOW_HTTP: '1',
      EDGEBOOT_WEBHOOK_FIRST_RETRY_MS: '300',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let output = '';
  const base = await new Promise<string>((ok, fail) => {
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) ok(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`node entry exited (${code}):\n${output}`)));
  });
  return { name: 'node', adminToken: ADMIN, child, exited, fetch: (path, init) => fetch(`${base}${path}`, init) };
}

const children: Running[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

describe('webhooks across a restart of the Node entry', () => {
  it('delivers, after a crash and a restart, every event recorded before it', async () => {
    let up = false;
    const rx = await startReceiver((_p, _n, res) => void res.writeHead(up ? 200 : 503).end());
    try {
      const dataDir = mkdtempSync(join(tmpdir(), 'edgeboot-webhook-restart-'));
      folders.push(dataDir);
      const first = await startNode(dataDir);
      children.push(first);

      const siteId = await createSite(first);
      const created = await call(first, 'POST', '/v1/webhooks', { json: { url: rx.url('/hook'), siteId } });
      expect(created.status, created.text).toBe(201);
      const { id, secret } = created.body as { id: string; secret: string };
      // Three events while the receiver is down: two test events and a relay coming online (a trigger's).
      for (let i = 0; i < 2; i++) expect((await call(first, 'POST', `/v1/webhooks/${id}/test`)).status).toBe(202);
      const relay = await enrollRelay(first, siteId);
      expect((await call(first, 'POST', '/v1/relay/heartbeat', { token: relay.token, json: {} })).status).toBe(200);
      const recorded = ((await call(first, 'GET', `/v1/webhooks/${id}/deliveries`)).body.items as { eventId: string }[]).map((d) => d.eventId).sort();
      expect(recorded).toHaveLength(3);
      await until('a refused attempt', () => rx.at('/hook').length >= 1);

      // A crash, not a polite stop: whatever was in flight or waiting must come back from the database.
      first.child.kill('SIGKILL');
      await first.exited;
      up = true;
      const second = await startNode(dataDir);
      children.push(second);

      const delivered = await until(
        'every recorded event to be accepted by the receiver',
        async () => {
          const items = (await call(second, 'GET', `/v1/webhooks/${id}/deliveries`)).body.items as { eventId: string; state: string }[];
          return items.length === 3 && items.every((d) => d.state === 'succeeded') ? items : null;
        },
        30_000,
      );
      expect(delivered.map((d) => d.eventId).sort()).toEqual(recorded);
      // What the receiver accepted: each event at least once, each signed with the secret it was shown.
      for (const r of rx.at('/hook')) expect(await verifySignature(secret, new Headers(r.headers as Record<string, string>), r.body, r.atSeconds)).toBeNull();
      const seen = new Set(rx.at('/hook').map((r) => r.headers['webhook-id']));
      expect([...seen].sort()).toEqual(recorded);
      expect(rx.at('/hook').map((r) => JSON.parse(r.body).type)).toContain('relay.online');
    } finally {
      await rx.close();
    }
  });
});
