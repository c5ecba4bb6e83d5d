/**
 * The console on the other runtimes: the worker as `wrangler deploy` bundles it, in workerd with
 * local D1 and R2, and the Deno entry under `deno serve` with the permissions of `npm run dev:deno`.
 * Sign-in, pages, a form that changes something through the API in process, and the upload script's
 * calls (a part body streamed through the console to the API) must work on each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite } from '../contract/fixtures.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { startEdgebootWorker, type RunningWorker } from '../support/workerd.ts';
import { consoleClient, ok } from './support.ts';

function smoke(target: () => ApiTarget & { baseUrl: string }) {
  it('signs in, renders the overview and a machine, assigns through a form, and serves the stylesheet', async () => {
    const t = target();
    const siteId = await createSite(t, unique('smoke-site'));
    const profile = ok(await call(t, 'POST', '/v1/profiles', { json: { name: unique('smoke-local'), spec: { kind: 'local' } } }), 201, 'profile');
    const machine = ok(await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId, arch: 'bios', hostname: unique('smoke-host') } }), 201, 'machine');
    const c = consoleClient(t.baseUrl);
    const signIn = await c.signIn(t.adminToken);
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('set-cookie')).toMatch(/HttpOnly; Secure; SameSite=Lax/);
    const home = await c.get('/console');
    expect(home.status).toBe(200);
    expect(home.html).toContain('Fleet overview');
    const css = /href="(\/console\/static\/[^"]+\.css)"/.exec(home.html)![1]!;
    const style = await fetch(`${t.baseUrl}${css}`);
    expect(style.status).toBe(200);
    expect(style.headers.get('cache-control')).toContain('immutable');
    const page = await c.get(`/console/machines/${machine.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain(machine.hostname);
    const assigned = await c.post(`/console/machines/${machine.id}/assign`, { profileId: profile.id });
    expect(assigned.status, assigned.html.slice(0, 400)).toBe(303);
    const match = ok(await call(t, 'GET', `/v1/machines/${machine.id}/assignment`), 200, 'assignment');
    expect(match.assignment.profileId).toBe(profile.id);
  });

  it('creates a site, adds a machine, a token and a webhook through the fleet pages, and reads their names back', async () => {
    const t = target();
    const c = consoleClient(t.baseUrl);
    await c.signIn(t.adminToken);
    const name = unique('rt-site');
    const site = await c.post('/console/sites', { name });
    expect(site.status, site.html.slice(0, 400)).toBe(303);
    const siteId = /\/console\/sites\/([^?]+)/.exec(site.location!)![1]!;
    const mac = randomMac();
    const machine = await c.post('/console/machines', { mac, siteId, labels: 'rack=r1' });
    expect(machine.status, machine.html.slice(0, 400)).toBe(303);
    expect((await c.get(machine.location!)).html).toContain(name);
    const token = await c.post('/console/tokens', { name: unique('rt-token'), role: 'viewer', siteIds: siteId });
    expect(token.status, token.html.slice(0, 400)).toBe(201);
    expect(token.html).toMatch(/value="ebt_[0-9a-z]{32}"/);
    const webhook = await c.post('/console/webhooks', { url: 'https://hooks.example.com/edgeboot', siteId });
    expect(webhook.status, webhook.html.slice(0, 400)).toBe(201);
    const list = await c.get('/console/webhooks');
    expect(list.status).toBe(200);
    expect(list.html).toContain(name);
  });

  it("takes an image through the upload script's calls: parts streamed via the console to the API", async () => {
    const t = target();
    const c = consoleClient(t.baseUrl);
    await c.signIn(t.adminToken);
    const api = async (method: string, path: string, body?: BodyInit, type = 'application/json') => {
      const res = await fetch(`${t.baseUrl}/console/api${path}`, {
        method,
        body,
        headers: { cookie: `__Host-edgeboot-console=${c.cookie}`, origin: t.baseUrl, 'x-csrf-token': c.csrf!, ...(body ? { 'content-type': type } : {}) },
      });
      const json = await res.json();
      expect(res.status, JSON.stringify(json)).toBeLessThan(300);
      return json;
    };
    const bytes = new Uint8Array(randomBytes(70_000));
    const image = await api('POST', '/images', JSON.stringify({ name: unique('smoke-image'), kind: 'file' }));
    const upload = await api('POST', `/images/${image.id}/uploads`, JSON.stringify({ size: bytes.length, partSize: 5 * 1024 * 1024 }));
    await api('PUT', `/images/${image.id}/uploads/${upload.id}/parts/1`, bytes, 'application/octet-stream');
    const done = await api('POST', `/images/${image.id}/uploads/${upload.id}/complete`, '{}');
    expect(done).toMatchObject({ status: 'ready', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  });
}

describe('web console on workerd (the wrangler bundle, local D1 and R2)', () => {
  const adminToken = 'ebt_consoleworkerdadmintoken00000000';
  let worker: RunningWorker | undefined;
  beforeAll(async () => {
    worker = await startEdgebootWorker(adminToken);
  }, 120_000);
  afterAll(async () => {
    await worker?.dispose();
  });
  smoke(() => ({ name: 'workerd', adminToken, baseUrl: worker!.url, fetch: (p, i) => fetch(`${worker!.url}${p}`, i) }));
});

describe('web console on the Deno entry (deno serve)', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({
      name: 'console-deno',
      command: join(REPO_ROOT, 'node_modules/.bin/deno'),
      args: (dataDir) => ['serve', '--allow-env=EDGEBOOT_*', `--allow-read=cloud/migrations,${dataDir}`, `--allow-write=${dataDir}`, '--host', '127.0.0.1', '--port', '0', 'cloud/src/entry/deno.ts'],
      env: { DENO_NO_UPDATE_CHECK: '1' },
      listening: /listening on (http:\/\/\S+)/i,
    });
  }, 120_000);
  afterAll(async () => {
    await entry?.stop();
  });
  smoke(() => entry!);
});
