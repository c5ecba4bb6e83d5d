/**
 * The console's pages for running a fleet, over HTTP against the Node entry: sites, machines (and a
 * bulk reprovision by filter), tokens (the secret shown once), relays (revoke, the install command)
 * and webhooks (delivery log, test event). Each change is checked in the API, each refusal on the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dellReport } from '../contract/api/inventory.contract.ts';
import { renderedBoot } from '../contract/boot-fixtures.ts';
import { createSite, createToken, enrollRelay } from '../contract/fixtures.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { consoleClient, ok, seedFleet, type Fleet } from './support.ts';

let entry: SpawnedEntry;
let fleet: Fleet;

beforeAll(async () => {
  entry = await spawnEntry({ name: 'console-pages', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  fleet = await seedFleet(entry);
});
afterAll(async () => {
  await entry?.stop();
});

async function signedIn(token: string) {
  const c = consoleClient(entry.baseUrl);
  const r = await c.signIn(token);
  expect(r.status, r.html.slice(0, 500)).toBe(303);
  return c;
}
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#39;|&rsquo;/g, "'").replace(/\s+/g, ' ');

describe('console pages for sites, machines, tokens, relays and webhooks', () => {
  it('creates a site, renames it, refuses an empty name beside the field, and deletes it', async () => {
    const c = await signedIn(entry.adminToken);
    const name = unique('branch');
    const created = await c.post('/console/sites', { name, description: 'the Paris office' });
    expect(created.status, created.html.slice(0, 400)).toBe(303);
    const id = /\/console\/sites\/([^?]+)\?ok=site-created/.exec(created.location!)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/sites/${id}`), 200, 'site')).toMatchObject({ name, description: 'the Paris office' });
    const page = await c.get(created.location!);
    expect(text(page.html)).toContain('Site created. Next: enroll a relay');
    expect(page.html).toContain('No relay enrolled yet');

    const empty = await c.post(`/console/sites/${id}`, { name: '', siteForm: 'on' });
    expect(empty.status).toBe(400);
    expect(empty.html).toMatch(/<a href="#e-name">name: /);
    expect(empty.html).toContain('aria-invalid="true"');
    const renamed = await c.post(`/console/sites/${id}`, { name: `${name}-2`, description: '', siteForm: 'on' });
    expect(renamed.status, renamed.html.slice(0, 400)).toBe(303);
    expect(ok(await call(entry, 'GET', `/v1/sites/${id}`), 200, 'site').name).toBe(`${name}-2`);
    expect((await c.get('/console/sites')).html).toContain(`${name}-2`);

    const deleted = await c.post(`/console/sites/${id}/delete`);
    expect(deleted.status).toBe(303);
    expect(deleted.location).toBe('/console/sites?ok=deleted');
    expect((await call(entry, 'GET', `/v1/sites/${id}`)).status).toBe(404);
  });

  it("shows the API's refusal to delete a site that still has machines, as an error page with its status", async () => {
    const c = await signedIn(entry.adminToken);
    const r = await c.post(`/console/sites/${fleet.siteA}/delete`);
    expect(r.status).toBe(409);
    expect(text(r.html)).toContain('the site still has machines or relays; move or delete them first');
    expect((await call(entry, 'GET', `/v1/sites/${fleet.siteA}`)).status).toBe(200);
  });

  it('adds a machine by MAC with labels, edits its hostname, site and labels, and deletes it; a bad MAC is shown beside its field', async () => {
    const c = await signedIn(entry.adminToken);
    const bad = await c.post('/console/machines', { mac: 'not-a-mac', siteId: fleet.siteA });
    expect(bad.status).toBe(400);
    expect(bad.html).toMatch(/<a href="#m-mac">mac: /);
    expect(bad.html).toContain('value="not-a-mac"');
    const mac = randomMac();
    const created = await c.post('/console/machines', { mac, hostname: '', siteId: fleet.siteA, labels: 'rack=r1, env=lab', arch: 'uefi-x64' });
    expect(created.status, created.html.slice(0, 600)).toBe(303);
    const id = /\/console\/machines\/([^?]+)\?ok=machine-created/.exec(created.location!)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/machines/${id}`), 200, 'machine')).toMatchObject({ mac, hostname: null, siteId: fleet.siteA, labels: { rack: 'r1', env: 'lab' }, arch: 'uefi-x64' });
    // Without a hostname, people read it by its MAC.
    expect(text((await c.get(created.location!)).html)).toContain(`Machine ${mac}`);

    const badLabels = await c.post(`/console/machines/${id}/edit`, { editForm: 'on', hostname: 'web-1', siteId: fleet.siteB, labels: 'rack' });
    expect(badLabels.status).toBe(400);
    expect(badLabels.html).toContain('is not key=value');
    const edited = await c.post(`/console/machines/${id}/edit`, { editForm: 'on', hostname: 'web-1', siteId: fleet.siteB, labels: 'rack=r2' });
    expect(edited.status, edited.html.slice(0, 600)).toBe(303);
    expect(ok(await call(entry, 'GET', `/v1/machines/${id}`), 200, 'machine')).toMatchObject({ hostname: 'web-1', siteId: fleet.siteB, labels: { rack: 'r2' } });
    expect(text((await c.get(`/console/machines?siteId=${fleet.siteB}`)).html)).toContain('web-1');

    const deleted = await c.post(`/console/machines/${id}/delete`);
    expect(deleted.status).toBe(303);
    expect((await call(entry, 'GET', `/v1/machines/${id}`)).status).toBe(404);
  });

  it("assigns from a machine's page in place of its earlier assignment, and lists selectors by site name and hostname", async () => {
    const c = await signedIn(entry.adminToken);
    const hostname = unique('assignee');
    const m = ok(await call(entry, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: fleet.siteA, hostname } }), 201, 'machine');
    expect((await c.post(`/console/machines/${m.id}/assign`, { profileId: fleet.profile.id })).location).toBe(`/console/machines/${m.id}?ok=assigned`);
    const second = await c.post(`/console/machines/${m.id}/assign`, { profileId: fleet.script.id });
    expect(second.location).toBe(`/console/machines/${m.id}?ok=assigned-replaced`);
    const list = ok(await call(entry, 'GET', `/v1/assignments?machineId=${m.id}`), 200, 'assignments').items;
    expect(list.map((a: any) => a.profileId)).toEqual([fleet.script.id]);
    expect(text((await c.get(second.location!)).html)).toContain('replaces the machine’s earlier assignment');

    const siteName = ok(await call(entry, 'GET', `/v1/sites/${fleet.siteB}`), 200, 'site').name;
    ok(await call(entry, 'POST', '/v1/assignments', { json: { profileId: fleet.profile.id, selector: { siteId: fleet.siteB } } }), 201, 'site assignment');
    const page = text((await c.get('/console/assignments')).html);
    expect(page).toContain(`machine ${hostname}`);
    expect(page).toContain(`site ${siteName}`);
    expect(page).not.toContain(`site=${fleet.siteB}`);

    // The Assignments page's form, by MAC: replaces too, unless "add" is ticked.
    const byMac = await c.post('/console/assignments', { profileId: fleet.profile.id, mac: m.mac });
    expect(byMac.location).toMatch(/\?ok=assigned-replaced$/);
    expect(ok(await call(entry, 'GET', `/v1/assignments?machineId=${m.id}`), 200, 'assignments').items.map((a: any) => a.profileId)).toEqual([fleet.profile.id]);
    const added = await c.post('/console/assignments', { profileId: fleet.script.id, mac: m.mac, add: 'on' });
    expect(added.location).toMatch(/\?ok=created$/);
    expect(ok(await call(entry, 'GET', `/v1/assignments?machineId=${m.id}`), 200, 'assignments').items).toHaveLength(2);
  });

  it('reprovisions every machine of a filter; a viewer is refused with 403, an operator of another site finds none', async () => {
    const admin = await signedIn(entry.adminToken);
    const site = await createSite(entry, unique('bulk'));
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(ok(await call(entry, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site, state: 'deployed', labels: { batch: i < 2 ? 'b1' : 'b2' } } }), 201, 'machine').id);
    const other = ok(await call(entry, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: fleet.siteA, state: 'deployed' } }), 201, 'machine').id;

    const list = await admin.get(`/console/machines?siteId=${site}&state=deployed`);
    expect(text(list.html)).toContain('Reprovision 3 machines of this filter');
    const refused = await (await signedIn(fleet.viewer.token)).post('/console/machines/reprovision', { siteId: fleet.siteA, state: 'deployed' });
    expect(refused.status).toBe(403);
    const elsewhere = await (await signedIn(fleet.operatorB.token)).post('/console/machines/reprovision', { siteId: fleet.siteA, state: 'deployed' });
    expect(text(elsewhere.html)).toContain('No machine matches this filter');
    expect(ok(await call(entry, 'GET', `/v1/machines/${other}`), 200, 'machine').state).toBe('deployed');

    // A label narrows the filter, and the bulk form carries it.
    const labelled = await admin.get(`/console/machines?siteId=${site}&label=${encodeURIComponent('batch=b1')}`);
    expect(text(labelled.html)).toContain('Reprovision 2 machines of this filter');
    expect(labelled.html).toContain('<input type="hidden" name="label" value="batch=b1"/>');
    const badLabel = await admin.get('/console/machines?label=batch');
    expect(badLabel.status).toBe(400);
    expect(text(badLabel.html)).toContain('expected key=value, e.g. rack=r12');

    const done = await admin.post('/console/machines/reprovision', { siteId: site, state: 'deployed', q: '' });
    expect(done.status, done.html.slice(0, 500)).toBe(200);
    expect(text(done.html)).toContain('Reprovisioned 3 machines');
    for (const id of ids) expect(ok(await call(entry, 'GET', `/v1/machines/${id}`), 200, 'machine').state).toBe('ready');
    expect(ok(await call(entry, 'GET', `/v1/machines/${other}`), 200, 'machine').state).toBe('deployed');
  });

  it('creates a token with a role and sites, shows its secret once, and revokes it; tokens are for admins only', async () => {
    const c = await signedIn(entry.adminToken);
    const name = unique('ci');
    const created = await c.post('/console/tokens', { name, role: 'operator', siteIds: [fleet.siteA], expiresInDays: '30' });
    expect(created.status, created.html.slice(0, 500)).toBe(201);
    const secret = /id="t-secret" class="mono" readonly="" value="(ebt_[0-9a-z]+)"/.exec(created.html)?.[1];
    expect(secret).toMatch(/^ebt_[0-9a-z]{32}$/);
    const token = ok(await call(entry, 'GET', '/v1/tokens?limit=500'), 200, 'tokens').items.find((t: any) => t.name === name);
    expect(token).toMatchObject({ role: 'operator', siteIds: [fleet.siteA] });
    expect(token.expiresAt).not.toBeNull();
    // The secret works, and the list never shows it again.
    expect((await consoleClient(entry.baseUrl).signIn(secret!)).status).toBe(303);
    expect((await c.get('/console/tokens')).html).not.toContain(secret);

    const noRole = await c.post('/console/tokens', { name: unique('x'), role: 'relay' });
    expect(noRole.status).toBe(400);
    expect(noRole.html).toContain('href="#t-role"');

    const revoked = await c.post(`/console/tokens/${token.id}/revoke`);
    expect(revoked.location).toBe('/console/tokens?ok=token-revoked');
    expect(ok(await call(entry, 'GET', `/v1/tokens/${token.id}`), 200, 'token').revokedAt).not.toBeNull();
    expect((await consoleClient(entry.baseUrl).signIn(secret!)).status).toBe(401);

    const operator = await signedIn(fleet.operatorA.token);
    expect((await operator.get('/console/tokens')).status).toBe(403);
    expect((await operator.post('/console/tokens', { name: unique('op'), role: 'admin' })).status).toBe(403);
  });

  it('shows the install command with a new enrollment code, and revokes a relay (its token refused from then on)', async () => {
    const c = await signedIn(entry.adminToken);
    const site = await createSite(entry, unique('relay-site'));
    const code = await c.post(`/console/sites/${site}/enrollment-codes`);
    expect(code.status).toBe(201);
    expect(text(code.html)).toMatch(new RegExp(`curl -fsSL ${entry.baseUrl.replace(/[.:/]/g, '\\$&')}/v1/relays/install\\.sh \\| sudo sh -s -- --code \\S+`));
    const relay = await enrollRelay(entry, site);
    const page = await c.get(`/console/sites/${site}`);
    expect(page.html).toContain(`action="/console/relays/${relay.relayId}/revoke"`);
    const revoked = await c.post(`/console/relays/${relay.relayId}/revoke`);
    expect(revoked.location).toBe(`/console/sites/${site}?ok=relay-revoked`);
    expect(ok(await call(entry, 'GET', `/v1/relays/${relay.relayId}`), 200, 'relay').revokedAt).not.toBeNull();
    expect((await call(entry, 'GET', '/v1/relay/sync', { token: relay.token })).status).toBe(401);
    const after = await c.get(`/console/sites/${site}`);
    expect(after.html).not.toContain(`action="/console/relays/${relay.relayId}/revoke"`);
    expect(text(after.html)).toContain('revoked');
  });

  it('creates a webhook (secret shown once), refuses a loopback receiver beside its field, sends a test event into the delivery log, and deletes it', async () => {
    const c = await signedIn(fleet.operatorA.token);
    const loop = await c.post('/console/webhooks', { url: 'https://127.0.0.1/hook', siteId: fleet.siteA });
    expect(loop.status).toBe(400);
    expect(loop.html).toMatch(/<a href="#w-url">url: /);
    const created = await c.post('/console/webhooks', { url: 'https://hooks.example.com/edgeboot', siteId: fleet.siteA, events: ['machine.deployed', 'machine.failed'], description: 'chat' });
    expect(created.status, created.html.slice(0, 500)).toBe(201);
    expect(created.html).toMatch(/value="whsec_[A-Za-z0-9+/=]+"/);
    const id = /href="\/console\/webhooks\/([^"]+)"/.exec(created.html)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/webhooks/${id}`), 200, 'webhook')).toMatchObject({ siteId: fleet.siteA, events: ['machine.deployed', 'machine.failed'], description: 'chat' });
    expect((await c.get('/console/webhooks')).html).not.toMatch(/whsec_/);

    const test = await c.post(`/console/webhooks/${id}/test`);
    expect(test.location).toBe(`/console/webhooks/${id}?ok=test-sent`);
    const log = text((await c.get(test.location!)).html);
    expect(log).toContain('webhook.test');
    expect(log).toContain('Delivery log');

    const viewer = await signedIn(fleet.viewer.token);
    expect((await viewer.get('/console/webhooks')).status).toBe(403);
    expect((await viewer.get(`/console/webhooks/${id}`)).status).toBe(403);

    expect((await c.post(`/console/webhooks/${id}/delete`)).location).toBe('/console/webhooks?ok=deleted');
    expect((await call(entry, 'GET', `/v1/webhooks/${id}`)).status).toBe(404);
  });

  it("shows a machine's hardware as its imager reported it, and says when none came yet", async () => {
    const c = await signedIn(entry.adminToken);
    const site = await createSite(entry, unique('inventory'));
    const relay = await enrollRelay(entry, site);
    const boot = await renderedBoot(entry, site, { relay });
    const before = text((await c.get(`/console/machines/${boot.machineId}`)).html);
    expect(before).toContain('Hardware Not reported yet');
    ok(await call(entry, 'POST', `/v1/callback/inventory?mac=${boot.mac}`, { token: boot.token, json: dellReport() }), 200, 'inventory report');
    const page = text((await c.get(`/console/machines/${boot.machineId}`)).html);
    expect(page).toContain('64 × Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz (x86_64)');
    expect(page).toContain('64 GiB (61 GiB usable)');
    expect(page).toContain('UEFI, Secure Boot on, Dell Inc. 2.19.1');
    expect(page).toContain('Dell Inc. PowerEdge R640');
    expect(page).toContain('Disks (3)');
    expect(page).toContain('sdb 3.6 TiB ST4000NM0035 ZC18ABCD spinning');
    expect(page).toContain('sdc 15 GiB Internal Dual SD — removable');
    expect(page).toContain('eno1 24:6e:96:aa:bb:01 bnxt_en 25 Gb/s');
    expect(page).toContain('eno2 24:6e:96:aa:bb:02 bnxt_en down or unknown');
  });

  it('refuses every new form without the CSRF token or from another origin, changing nothing', async () => {
    const c = await signedIn(entry.adminToken);
    const sitesBefore = ok(await call(entry, 'GET', '/v1/sites?limit=500'), 200, 'sites').items.length;
    const tokensBefore = ok(await call(entry, 'GET', '/v1/tokens?limit=500'), 200, 'tokens').items.length;
    const forms: [string, Record<string, string>][] = [
      ['/console/sites', { name: unique('csrf-site') }],
      [`/console/sites/${fleet.siteA}/delete`, {}],
      ['/console/machines', { mac: randomMac(), siteId: fleet.siteA }],
      ['/console/machines/reprovision', { siteId: fleet.siteA }],
      [`/console/machines/${fleet.a.id}/edit`, { hostname: 'csrf', siteId: fleet.siteA }],
      ['/console/tokens', { name: unique('csrf-token'), role: 'admin' }],
      [`/console/relays/${fleet.a.relay.relayId}/revoke`, {}],
      ['/console/webhooks', { url: 'https://hooks.example.com/csrf', siteId: fleet.siteA }],
    ];
    for (const [path, fields] of forms) {
      const none = await c.post(path, fields, { csrf: null });
      expect(none.status, path).toBe(403);
      expect(none.html, path).toContain('CSRF');
      expect((await c.post(path, fields, { origin: 'https://evil.example' })).status, path).toBe(403);
    }
    expect(ok(await call(entry, 'GET', '/v1/sites?limit=500'), 200, 'sites').items.length).toBe(sitesBefore);
    expect(ok(await call(entry, 'GET', '/v1/tokens?limit=500'), 200, 'tokens').items.length).toBe(tokensBefore);
    expect(ok(await call(entry, 'GET', `/v1/relays/${fleet.a.relay.relayId}`), 200, 'relay').revokedAt).toBeNull();
    expect(ok(await call(entry, 'GET', `/v1/machines/${fleet.a.id}`), 200, 'machine').hostname).not.toBe('csrf');
  });

  it('shows each role of a fresh install the first steps it can take as links, and the others as text', async () => {
    const fresh = await spawnEntry({ name: 'console-first-steps', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
    try {
      const stepsOf = (html: string) => /<section aria-labelledby="h-first-steps"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
      const links = (html: string) => [...stepsOf(html).matchAll(/<a href="[^"]*">([^<]+)<\/a>/g)].map((m) => m[1]);
      const admin = consoleClient(fresh.baseUrl);
      await admin.signIn(fresh.adminToken);
      const empty = await admin.get('/console');
      expect(links(empty.html)).toEqual(['Create a site', 'Enroll a relay', 'Upload an image', 'Create a profile', 'Assign the profile']);
      expect(text(empty.html)).toContain('No sites yet. Create the first site');

      const site = await createSite(fresh, unique('first'));
      const operator = consoleClient(fresh.baseUrl);
      await operator.signIn((await createToken(fresh, { role: 'operator', siteIds: [site] })).token);
      const op = await operator.get('/console');
      expect(links(op.html)).toEqual(['Enroll a relay', 'Assign the profile']);
      expect(text(stepsOf(op.html))).toContain('done Create a site');
      expect(text(op.html)).toContain('Sites, images and profiles are made by an administrator.');
      expect(stepsOf(op.html)).toContain(`href="/console/sites/${site}#h-relays"`);

      const viewer = consoleClient(fresh.baseUrl);
      await viewer.signIn((await createToken(fresh, { role: 'viewer' })).token);
      const v = await viewer.get('/console');
      expect(links(v.html)).toEqual([]);
      expect(text(v.html)).toContain("A viewer's token reads the fleet; ask an administrator to take these steps.");
    } finally {
      await fresh.stop();
    }
  });
});
