/**
 * The console's machine page: its BMC (never the password, not even sealed) and power buttons that
 * queue jobs through the API, against the cloud's Node entry over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, createToken } from '../contract/fixtures.ts';
import { BMC_PASSWORD, bmcMachine } from '../contract/power-fixtures.ts';
import { call, randomMac } from '../contract/target.ts';
import { consoleClient } from '../console/support.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';

let entry: SpawnedEntry;

beforeAll(async () => {
  entry = await spawnEntry({ name: 'console-power', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
});
afterAll(async () => {
  await entry?.stop();
});

async function signedIn(token: string) {
  const c = consoleClient(entry.baseUrl);
  expect((await c.signIn(token)).status).toBe(303);
  return c;
}

describe('console: BMC and power on the machine page', () => {
  it('shows the BMC without any credential, and a power button queues a job for the relay', async () => {
    const siteId = await createSite(entry);
    const m = await bmcMachine(entry, siteId);
    const c = await signedIn(entry.adminToken);
    const page = await c.get(`/console/machines/${m.machineId}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('BMC and power');
    expect(page.html).toContain('10.9.0.5:623');
    expect(page.html).toContain(m.relay.relayId);
    expect(page.html).not.toContain('s1.');
    expect(page.html).not.toContain(BMC_PASSWORD);

    const r = await c.post(`/console/machines/${m.machineId}/power`, { action: 'cycle' });
    expect(r.status).toBe(303);
    expect(r.location).toBe(`/console/machines/${m.machineId}?ok=power-queued`);
    const jobs = (await call(entry, 'GET', `/v1/machines/${m.machineId}/power-jobs`)).body.items;
    expect(jobs.map((j: any) => [j.action, j.state])).toEqual([['cycle', 'queued']]);
    const after = await c.get(r.location!);
    expect(after.html).toContain('Power job queued');
    expect(after.html).toMatch(/<td>cycle<\/td>/);
  });

  it('refuses an unknown action and a viewer, queueing nothing', async () => {
    const siteId = await createSite(entry);
    const m = await bmcMachine(entry, siteId);
    const admin = await signedIn(entry.adminToken);
    await admin.get(`/console/machines/${m.machineId}`);
    expect((await admin.post(`/console/machines/${m.machineId}/power`, { action: 'explode' })).status).toBe(400);
    const viewer = await signedIn((await createToken(entry, { role: 'viewer', siteIds: [siteId] })).token);
    const page = await viewer.get(`/console/machines/${m.machineId}`);
    expect(page.html).toContain('BMC and power');
    expect(page.html).not.toContain(`action="/console/machines/${m.machineId}/power"`);
    expect((await viewer.post(`/console/machines/${m.machineId}/power`, { action: 'on' })).status).toBe(403);
    expect((await call(entry, 'GET', `/v1/machines/${m.machineId}/power-jobs`)).body.items).toEqual([]);
  });

  it('tells how to set a BMC when the machine has none', async () => {
    const siteId = await createSite(entry);
    const mac = randomMac();
    const id = (await call(entry, 'POST', '/v1/machines', { json: { mac, siteId } })).body.id;
    const c = await signedIn(entry.adminToken);
    const page = await c.get(`/console/machines/${id}`);
    expect(page.html).toContain('No BMC.');
    expect(page.html).toContain('edgeboot machines bmc set');
  });
});
