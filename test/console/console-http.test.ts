/**
 * The console over HTTP against the Node entry (node cloud/src/entry/node.ts, which loads the .tsx
 * pages through its esbuild hook): sessions and their cookie, CSRF and Origin, roles exactly as in
 * the API (a viewer changes nothing, an operator of one site sees nothing of another), sign-out,
 * revocation, and bad input that must give an error page, never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../../cloud/src/console/routes.tsx';
import { renderedBoot } from '../contract/boot-fixtures.ts';
import { paddedBinary, type DebianBinaryName } from '../contract/debian-binaries.ts';
import { call, randomMac, type ApiTarget } from '../contract/target.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { COOKIE, consoleClient, ok, seedFleet, type Fleet } from './support.ts';

let entry: SpawnedEntry;
let fleet: Fleet;
let names: { siteA: string; siteB: string; hostA: string; hostB: string };

beforeAll(async () => {
  entry = await spawnEntry({ name: 'console-http', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  fleet = await seedFleet(entry);
  const get = async (path: string) => ok(await call(entry, 'GET', path), 200, path);
  names = {
    siteA: (await get(`/v1/sites/${fleet.siteA}`)).name,
    siteB: (await get(`/v1/sites/${fleet.siteB}`)).name,
    hostA: (await get(`/v1/machines/${fleet.a.id}`)).hostname,
    hostB: (await get(`/v1/machines/${fleet.b.id}`)).hostname,
  };
});
afterAll(async () => {
  await entry?.stop();
});

const client = () => consoleClient(entry.baseUrl);
async function signedIn(token: string) {
  const c = client();
  const r = await c.signIn(token);
  expect(r.status, r.html.slice(0, 500)).toBe(303);
  return c;
}

/** Everything a form could change, as the admin sees it through the API. */
async function snapshot(t: ApiTarget): Promise<string> {
  const paths = ['/v1/sites?limit=500', '/v1/machines?limit=500', '/v1/images?limit=500', '/v1/profiles?limit=500', '/v1/assignments?limit=500', '/v1/relays?limit=500'];
  const parts = [];
  for (const p of paths) parts.push(ok(await call(t, 'GET', p), 200, p));
  return JSON.stringify(parts);
}

/** Every state-changing route of the console, with a body that would succeed for an admin. */
async function everyForm(f: Fleet): Promise<{ path: string; fields: Record<string, string>; multipart?: boolean; api?: boolean }[]> {
  const assignment = ok(await call(entry, 'GET', `/v1/assignments?machineId=${f.a.id}`), 200, 'assignments').items[0];
  const token = ok(await call(entry, 'POST', '/v1/tokens', { json: { name: 'for-the-viewer-case', role: 'viewer' } }), 201, 'token');
  const webhook = ok(await call(entry, 'POST', '/v1/webhooks', { json: { url: 'https://hooks.example.com/edgeboot', siteId: f.siteA } }), 201, 'webhook');
  const delivery = ok(await call(entry, 'POST', `/v1/webhooks/${webhook.id}/test`), 202, 'test delivery');
  return [
    { path: '/console/sites', fields: { name: 'viewer-site' } },
    { path: `/console/sites/${f.siteA}`, fields: { name: 'renamed-by-viewer' } },
    { path: `/console/sites/${f.siteB}/delete`, fields: {} },
    { path: `/console/relays/${f.a.relay.relayId}/revoke`, fields: {} },
    { path: '/console/machines', fields: { mac: randomMac(), siteId: f.siteA } },
    { path: '/console/machines/reprovision', fields: { siteId: f.siteA } },
    { path: `/console/machines/${f.a.id}/edit`, fields: { hostname: 'renamed-by-viewer', siteId: f.siteA } },
    { path: `/console/machines/${f.b.id}/delete`, fields: {} },
    { path: '/console/tokens', fields: { name: 'viewer-token', role: 'admin' } },
    { path: `/console/tokens/${token.id}/revoke`, fields: {} },
    { path: '/console/webhooks', fields: { url: 'https://hooks.example.com/viewer', siteId: f.siteA } },
    { path: `/console/webhooks/${webhook.id}/test`, fields: {} },
    { path: `/console/webhooks/${webhook.id}/deliveries/${delivery.id}/retry`, fields: {} },
    { path: `/console/webhooks/${webhook.id}/delete`, fields: {} },
    { path: `/console/sites/${f.siteA}/default-profile`, fields: { defaultProfileId: f.profile.id } },
    { path: `/console/sites/${f.siteA}/enrollment-codes`, fields: {} },
    { path: `/console/machines/${f.a.id}/assign`, fields: { profileId: f.profile.id } },
    { path: `/console/machines/${f.a.id}/reprovision`, fields: {} },
    { path: `/console/machines/${f.a.id}/power`, fields: { action: 'status' } },
    // As the page's script sends it: ciphertexts only (their shape is enough for the API to get to its authorization).
    { path: `/console/machines/${f.a.id}/bmc`, fields: { protocol: 'ipmi', address: '10.0.0.1', username: 'admin', credentials: JSON.stringify([{ relayId: 'relay_x', sealed: 's1.x' }]) } },
    { path: `/console/machines/${f.a.id}/bmc/delete`, fields: {} },
    { path: '/console/images', fields: { name: 'viewer-upload', kind: 'file' }, multipart: true },
    { path: `/console/images/${f.kernel.id}/delete`, fields: {} },
    { path: '/console/profiles', fields: { name: 'viewer-profile', kind: 'local' } },
    { path: `/console/profiles/${f.profile.id}`, fields: { name: 'renamed-by-viewer', kind: 'local' } },
    { path: `/console/profiles/${f.script.id}/delete`, fields: {} },
    { path: '/console/assignments', fields: { profileId: f.profile.id, mac: f.a.mac } },
    { path: `/console/assignments/${assignment.id}`, fields: { profileId: f.profile.id, priority: '5' } },
    { path: `/console/assignments/${assignment.id}/delete`, fields: {} },
    { path: '/console/api/images', fields: {}, api: true },
  ];
}

async function send(c: ReturnType<typeof client>, form: Awaited<ReturnType<typeof everyForm>>[number]) {
  if (form.api) {
    const body = JSON.stringify({ name: 'viewer-api-upload' });
    return c.post(form.path, {}, { body, headers: { 'content-type': 'application/json', 'x-csrf-token': c.csrf! } });
  }
  if (form.multipart) {
    const fd = new FormData();
    fd.set('_csrf', c.csrf!);
    for (const [k, v] of Object.entries(form.fields)) fd.set(k, v);
    fd.set('file', new Blob([new Uint8Array(100)]), 'x.bin');
    return c.post(form.path, {}, { body: fd });
  }
  return c.post(form.path, form.fields);
}

describe('web console over HTTP (Node entry)', () => {
  it('keeps the session in an HttpOnly, Secure, SameSite=Lax, host-only cookie that holds no token', async () => {
    const c = client();
    const r = await c.post('/console/sign-in', { token: entry.adminToken }, { csrf: null });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console');
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toMatch(new RegExp(`^${COOKIE}=[0-9a-z]{32}; `));
    const attrs = cookie.split(';').map((s) => s.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(['path=/', 'httponly', 'secure', 'samesite=lax']));
    expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
    expect(cookie).not.toContain(entry.adminToken);
    const home = await c.get('/console');
    expect(home.status).toBe(200);
    expect(home.html).toContain('Fleet overview');
  });

  it('refuses unknown, revoked and relay tokens with a 401 page and sets no cookie', async () => {
    const revoked = ok(await call(entry, 'POST', '/v1/tokens', { json: { name: 'to-revoke', role: 'viewer' } }), 201, 'token');
    ok(await call(entry, 'DELETE', `/v1/tokens/${revoked.id}`), 204, 'revoke');
    for (const token of ['ebt_' + 'x'.repeat(32), revoked.token, fleet.a.relay.token, 'not a token at all', 'x'.repeat(5000)]) {
      const r = await client().post('/console/sign-in', { token }, { csrf: null });
      expect([401, 413], token.slice(0, 20)).toContain(r.status);
      expect(r.headers.get('set-cookie')).toBeNull();
      expect(r.html).toContain('<h1>');
    }
    const relay = await client().post('/console/sign-in', { token: fleet.a.relay.token }, { csrf: null });
    expect(relay.html).toContain('Relay tokens cannot sign in');
  });

  it('sends visitors without a session to the sign-in page, and browsers at / to the console', async () => {
    for (const path of ['/console', '/console/machines', `/console/machines/${fleet.a.id}`, '/console/audit']) {
      const r = await client().get(path);
      expect(r.status, path).toBe(303);
      expect(r.location).toBe('/console/sign-in');
    }
    const forged = await client().post(`/console/machines/${fleet.a.id}/reprovision`, {}, { csrf: 'x'.repeat(32) });
    expect(forged.status).toBe(303);
    expect(forged.location).toBe('/console/sign-in');
    expect((await client().get('/')).location).toBe('/console');
    const api = await fetch(`${entry.baseUrl}/`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(404);
    expect((await api.json()).error.code).toBe('not_found');
  });

  it('refuses a change without the CSRF token, with a wrong one, from another origin or with no Origin', async () => {
    const c = await signedIn(entry.adminToken);
    const before = await snapshot(entry);
    const path = `/console/machines/${fleet.a.id}/assign`;
    const fields = { profileId: fleet.profile.id };
    const other = await signedIn(entry.adminToken);
    const cases = [
      await c.post(path, fields, { csrf: null }),
      await c.post(path, fields, { csrf: 'a'.repeat(32) }),
      await c.post(path, fields, { csrf: other.csrf }),
      await c.post(path, fields, { origin: 'https://evil.example' }),
      await c.post(path, fields, { origin: 'null' }),
      await c.post(path, fields, { origin: null }),
      await c.post(path, fields, { headers: { 'sec-fetch-site': 'cross-site' } }),
      await c.post('/console/api/images', {}, { body: '{"name":"x"}', headers: { 'content-type': 'application/json' } }),
      await c.post('/console/api/images', {}, { body: '{"name":"x"}', headers: { 'content-type': 'application/json', 'x-csrf-token': other.csrf! } }),
    ];
    expect(cases.map((r) => r.status)).toEqual(cases.map(() => 403));
    expect(cases[0]!.html).toContain('CSRF');
    expect(cases[3]!.html).toContain('Origin');
    // Sign-in itself is Origin-checked (login CSRF).
    expect((await client().post('/console/sign-in', { token: entry.adminToken }, { csrf: null, origin: 'https://evil.example' })).status).toBe(403);
    expect(await snapshot(entry)).toBe(before);
    // The same form with the token and the page's origin goes through.
    const good = await c.post(`/console/machines/${fleet.a.id}/reprovision`);
    expect(good.status).toBe(303);
  });

  it('lets a viewer read every page but refuses every form, changing nothing', async () => {
    const c = await signedIn(fleet.viewer.token);
    for (const path of ['/console', '/console/sites', `/console/sites/${fleet.siteA}`, '/console/machines', `/console/machines/${fleet.a.id}`, '/console/images', '/console/profiles', `/console/profiles/${fleet.profile.id}`, '/console/assignments']) {
      const r = await c.get(path);
      expect(r.status, path).toBe(200);
      // No form that changes anything is offered to a viewer (sign-out aside).
      const actions = [...r.html.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"/g)].map((m) => m[1]);
      expect(actions.filter((a) => a !== '/console/sign-out'), path).toEqual([]);
    }
    expect((await c.get('/console/audit')).status).toBe(403);
    const before = await snapshot(entry);
    for (const form of await everyForm(fleet)) {
      const r = await send(c, form);
      expect(r.status, `${form.path}: ${r.html.slice(0, 300)}`).toBe(403);
    }
    expect(await snapshot(entry)).toBe(before);
  });

  it('tests every state-changing console route in the viewer case above', async () => {
    const routes = consoleRoutes(() => new Response()).routes.filter((r) => r.method !== 'GET' && r.path !== '/*' && !r.path.endsWith('/*'));
    const tested = (await everyForm(fleet)).map((f) => f.path.replace(/^\/console/, ''));
    const patterns = routes.filter((r) => !['/sign-in', '/sign-out'].includes(r.path)).map((r) => new RegExp(`^${r.path.replace(/:[a-z]+/g, '[^/]+')}$`));
    for (const p of patterns) expect(tested.some((t) => p.test(t)), `untested route ${p}`).toBe(true);
  });

  it('shows an operator of site A nothing of site B: 404 pages, and nothing in lists', async () => {
    const c = await signedIn(fleet.operatorA.token);
    for (const path of [`/console/sites/${fleet.siteB}`, `/console/machines/${fleet.b.id}`, `/console/machines/${fleet.b.mac}`, `/console/machines/${fleet.b.mac.replaceAll(':', '-')}`]) {
      const r = await c.get(path);
      expect(r.status, path).toBe(404);
      expect(r.html).not.toContain(names.hostB);
    }
    for (const path of ['/console', '/console/machines', `/console/machines?siteId=${fleet.siteB}`, '/console/assignments', `/console/sites/${fleet.siteA}`]) {
      const r = await c.get(path);
      expect([200, 400], path).toContain(r.status);
      expect(r.html, path).not.toContain(names.siteB);
      expect(r.html, path).not.toContain(names.hostB);
      expect(r.html, path).not.toContain(fleet.b.mac);
    }
    expect((await c.get('/console')).html).toContain(names.siteA);
    const before = await snapshot(entry);
    for (const path of [`/console/machines/${fleet.b.id}/assign`, `/console/machines/${fleet.b.id}/reprovision`, `/console/sites/${fleet.siteB}/default-profile`, `/console/sites/${fleet.siteB}/enrollment-codes`]) {
      const r = await c.post(path, { profileId: fleet.profile.id, defaultProfileId: fleet.profile.id });
      expect(r.status, path).toBe(404);
    }
    // Refused exactly as the API refuses the same token (a site it cannot see is not a valid reference).
    const sneaky = await c.post('/console/assignments', { profileId: fleet.profile.id, siteId: fleet.siteB });
    const direct = await call(entry, 'POST', '/v1/assignments', { token: fleet.operatorA.token, json: { profileId: fleet.profile.id, selector: { siteId: fleet.siteB } } });
    expect(direct.status).toBeGreaterThanOrEqual(400);
    expect(sneaky.status).toBe(direct.status);
    expect(sneaky.html).not.toContain(names.siteB);
    expect(await snapshot(entry)).toBe(before);
    // The same operator changes its own site's machine, and the API shows it.
    const assigned = await c.post(`/console/machines/${fleet.a.id}/assign`, { profileId: fleet.profile.id, once: 'on' });
    expect(assigned.status, assigned.html.slice(0, 400)).toBe(303);
    const mine = ok(await call(entry, 'GET', `/v1/assignments?machineId=${fleet.a.id}`), 200, 'assignments').items;
    expect(mine.some((a: any) => a.profileId === fleet.profile.id && a.once)).toBe(true);
    // And the audit log names the operator's token as the actor.
    const audit = ok(await call(entry, 'GET', `/v1/audit?actor=${fleet.operatorA.id}`), 200, 'audit').items;
    expect(audit.some((e: any) => e.action === 'POST /v1/assignments' && e.result === 'ok')).toBe(true);
    expect(audit.some((e: any) => e.action === 'POST /console/sign-in')).toBe(true);
  });

  it('lets an admin create, edit and delete profiles and assignments, set a site default and make an enrollment code', async () => {
    const c = await signedIn(entry.adminToken);
    const created = await c.post('/console/profiles', { name: 'console-ipxe', kind: 'ipxe', script: '#!ipxe\nexit\n' });
    expect(created.status, created.html.slice(0, 400)).toBe(303);
    const profileId = /\/console\/profiles\/(prf_[0-9a-z]+)\?ok=created/.exec(created.location!)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/profiles/${profileId}`), 200, 'profile').spec).toEqual({ kind: 'ipxe', script: '#!ipxe\nexit\n' });
    const edit = await c.get(`/console/profiles/${profileId}`);
    expect(edit.html).toContain('&quot;kind&quot;: &quot;ipxe&quot;');
    const saved = await c.post(`/console/profiles/${profileId}`, { name: 'console-menu', spec: '{"kind":"menu","title":"Lab","items":[]}' });
    expect(saved.status, saved.html.slice(0, 400)).toBe(303);
    expect(ok(await call(entry, 'GET', `/v1/profiles/${profileId}`), 200, 'profile')).toMatchObject({ name: 'console-menu', spec: { kind: 'menu', title: 'Lab' } });

    const assigned = await c.post('/console/assignments', { profileId, siteId: fleet.siteA, labels: 'rack=r7', arch: 'uefi-x64', priority: '7' });
    expect(assigned.status, assigned.html.slice(0, 600)).toBe(303);
    const assignmentId = /\/console\/assignments\/(asg_[0-9a-z]+)/.exec(assigned.location!)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/assignments/${assignmentId}`), 200, 'assignment')).toMatchObject({
      profileId,
      selector: { siteId: fleet.siteA, labels: { rack: 'r7' }, arch: 'uefi-x64' },
      priority: 7,
      once: false,
    });
    expect((await c.post(`/console/assignments/${assignmentId}`, { profileId, priority: '-3', once: 'on' })).status).toBe(303);
    expect(ok(await call(entry, 'GET', `/v1/assignments/${assignmentId}`), 200, 'assignment')).toMatchObject({ priority: -3, once: true });
    // The profile is in use: deleting it is refused with the API's conflict, on a page.
    const inUse = await c.post(`/console/profiles/${profileId}/delete`);
    expect(inUse.status).toBe(409);
    expect((await c.post(`/console/assignments/${assignmentId}/delete`)).location).toBe('/console/assignments?ok=deleted');
    expect((await call(entry, 'GET', `/v1/assignments/${assignmentId}`)).status).toBe(404);
    expect((await c.post(`/console/profiles/${profileId}/delete`)).location).toBe('/console/profiles?ok=deleted');

    const site = await c.post(`/console/sites/${fleet.siteB}/default-profile`, { defaultProfileId: fleet.script.id });
    expect(site.location).toBe(`/console/sites/${fleet.siteB}?ok=default-saved`);
    expect(ok(await call(entry, 'GET', `/v1/sites/${fleet.siteB}`), 200, 'site').defaultProfileId).toBe(fleet.script.id);
    expect((await c.post(`/console/sites/${fleet.siteB}/default-profile`, { defaultProfileId: '' })).status).toBe(303);
    expect(ok(await call(entry, 'GET', `/v1/sites/${fleet.siteB}`), 200, 'site').defaultProfileId).toBeNull();
    const code = await c.post(`/console/sites/${fleet.siteB}/enrollment-codes`);
    expect(code.status).toBe(201);
    expect(code.html).toMatch(/[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}/);
  });

  it("builds a profile with a shim, a GRUB and an arch from the form's fields, shows refusals next to them, and a machine's Secure Boot and loader", async () => {
    const c = await signedIn(entry.adminToken);
    const upload = async (file: DebianBinaryName): Promise<string> => {
      const img = ok(await call(entry, 'POST', '/v1/images', { json: { name: `console-${file}`, kind: 'efi' } }), 201, 'image');
      const bytes = paddedBinary(file);
      ok(await call(entry, 'PUT', `/v1/images/${img.id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }), 200, 'upload');
      return img.id;
    };
    const [shim, grub, arm, kernel] = [await upload('shim'), await upload('grub'), await upload('ipxeArm64'), await upload('kernel')];
    const form = await c.get('/console/profiles/new');
    expect(form.html).toContain('id="f-shim"');
    expect(form.html).toContain('console-shim (x86-64, signed)');

    const refused = await c.post('/console/profiles', { name: 'console-sb', kind: 'linux', kernel, cmdline: 'quiet', shim, grub: arm, arch: '' });
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('GRUB image console-ipxeArm64 is an arm64 EFI binary; UEFI x64 machines need an x86-64 one');
    expect(refused.html).toMatch(/id="f-grub"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="f-grub"/);

    const created = await c.post('/console/profiles', { name: 'console-sb', kind: 'linux', kernel, cmdline: 'quiet', shim, grub, arch: '' });
    expect(created.status, created.html.slice(0, 600)).toBe(303);
    const profileId = /\/console\/profiles\/(prf_[0-9a-z]+)\?ok=created/.exec(created.location!)![1]!;
    expect(ok(await call(entry, 'GET', `/v1/profiles/${profileId}`), 200, 'profile').spec).toEqual({ kind: 'linux', kernel, initrds: [], cmdline: 'quiet', shim, grub, arch: 'x86-64' });

    const mac = randomMac();
    const m = ok(await call(entry, 'POST', '/v1/machines', { json: { mac, siteId: fleet.siteA, arch: 'uefi-x64', secureBoot: true } }), 201, 'machine');
    ok(await call(entry, 'POST', '/v1/assignments', { json: { profileId, selector: { mac } } }), 201, 'assignment');
    const page = await c.get(`/console/machines/${m.id}`);
    expect(page.html).toMatch(/<dt>Secure Boot<\/dt>\s*<dd>on<\/dd>/);
    expect(page.html).toContain('Loader: <strong>shim → GRUB (signed chain)</strong>');
  });

  it('shows a failed installation on the overview, and its reason and log tail on the machine page', async () => {
    const boot = await renderedBoot(entry, fleet.siteA, { relay: fleet.a.relay });
    const logTail = 'E: Unable to locate package <script>alert(1)</script>\nInstallation step failed: install-packages';
    ok(await call(entry, 'POST', '/v1/callback/failed', { token: boot.token, json: { reason: 'package install failed', logTail } }), 200, 'failed callback');
    const c = await signedIn(fleet.operatorA.token);
    const home = await c.get('/console');
    expect(home.html).toContain('package install failed');
    expect(home.html).toContain(`/console/machines/${boot.machineId}`);
    const page = await c.get(`/console/machines/${boot.machineId}`);
    expect(page.html).toContain('callback-failed');
    expect(page.html).toContain('Installation step failed: install-packages');
    // Everything a machine sends is escaped.
    expect(page.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.html).not.toContain('<script>alert(1)');
    // An operator of the other site sees nothing of it.
    const other = await signedIn(fleet.operatorB.token);
    expect((await other.get('/console')).html).not.toContain('package install failed');
  });

  it('ends the session on sign-out: the old cookie opens nothing', async () => {
    const c = await signedIn(fleet.viewer.token);
    const cookie = c.cookie;
    const out = await c.post('/console/sign-out');
    expect(out.status).toBe(303);
    expect(out.location).toBe('/console/sign-in?out');
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    const replay = consoleClient(entry.baseUrl);
    replay.cookie = cookie;
    const r = await replay.get('/console');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/sign-in?ended');
  });

  it('ends the session when its token is revoked', async () => {
    const t = ok(await call(entry, 'POST', '/v1/tokens', { json: { name: 'console-revoke', role: 'operator', siteIds: [fleet.siteA] } }), 201, 'token');
    const c = await signedIn(t.token);
    expect((await c.get(`/console/machines/${fleet.a.id}`)).status).toBe(200);
    ok(await call(entry, 'DELETE', `/v1/tokens/${t.id}`), 204, 'revoke');
    const r = await c.get(`/console/machines/${fleet.a.id}`);
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/sign-in?ended');
    const post = await c.post(`/console/machines/${fleet.a.id}/reprovision`);
    expect(post.status).toBe(303);
    expect((await c.get('/console/sign-in?ended')).html).toContain('Your session ended');
  });

  it('answers malformed, oversized and invalid forms with an error page, never a 500', async () => {
    const c = await signedIn(entry.adminToken);
    const path = `/console/machines/${fleet.a.id}/assign`;
    const pages = [
      await c.post(path, {}, { body: '{"profileId":"x"}', headers: { 'content-type': 'application/json' } }),
      await c.post(path, {}, { body: '--zzz\r\ngarbage', headers: { 'content-type': 'multipart/form-data; boundary=zzz' } }),
      await c.post(path, {}, { body: `_csrf=${c.csrf}&profileId=%E0%A4%A`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      await c.post(path, { profileId: 'x'.repeat(2 * 1024 * 1024) }),
      await c.post(path, { profileId: 'no-such-profile' }),
      await c.post(path, { profileId: '' }),
      await c.post('/console/profiles', { name: 'x'.repeat(500), kind: 'linux', kernel: 'nope' }),
      await c.post('/console/profiles', { name: 'ok-name', spec: '{not json' }),
      await c.post('/console/profiles', { name: 'ok-name', spec: '{"kind":"menu","timeoutSeconds":-4}' }),
      await c.post('/console/assignments', { profileId: fleet.profile.id, mac: 'zz:zz', labels: 'nokey, =x', priority: '1.5' }),
      await c.post('/console/assignments', { profileId: fleet.profile.id }),
      await c.post(`/console/sites/${fleet.siteA}/default-profile`, { defaultProfileId: 'x'.repeat(100) }),
      await c.post('/console/images', { name: '../etc/passwd' }),
      await c.get('/console/machines?cursor=%00%01&state=exploded'),
      await c.get(`/console/machines/${'%ff'.repeat(40)}`),
      await c.get(`/console/sites/${fleet.siteA}?cursor=${'z'.repeat(100)}`),
      await c.get('/console/audit?cursor=-1'),
      await c.get('/console/static/nope.css'),
    ];
    for (const p of pages) {
      expect(p.status, p.html.slice(0, 600)).toBeGreaterThanOrEqual(400);
      expect(p.status, p.html.slice(0, 600)).toBeLessThan(500);
      expect(p.headers.get('content-type')).toMatch(/^text\/html/);
      expect(p.html).toMatch(/role="alert"/);
    }
    expect(pages[3]!.status).toBe(413);
    // Validation messages come from the zod schemas, next to the field.
    expect(pages[6]!.html).toMatch(/aria-invalid="true"/);
    expect(pages[7]!.html).toContain('not valid JSON');
    expect(pages[9]!.html).toContain('not key=value');
    expect(pages[9]!.html).toContain('a whole number');
    expect(pages[10]!.html).toContain('a selector needs at least one of');
    // What was typed is kept in the form.
    expect(pages[8]!.html).toContain('&quot;timeoutSeconds&quot;:-4');
  });

  it('serves one small stylesheet and script with year-long caching, and pages with no-store and a strict CSP', async () => {
    const c = await signedIn(entry.adminToken);
    const page = await c.get('/console');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.html).not.toMatch(/<script>|style="/);
    const css = /href="(\/console\/static\/console\.[0-9a-f]{12}\.css)"/.exec(page.html)![1]!;
    const js = /src="(\/console\/static\/console\.[0-9a-f]{12}\.js)"/.exec(page.html)![1]!;
    for (const path of [css, js]) {
      const r = await fetch(`${entry.baseUrl}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const etag = r.headers.get('etag')!;
      expect((await fetch(`${entry.baseUrl}${path}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    }
    const doc = ok(await call(entry, 'GET', '/openapi.json'), 200, 'openapi');
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
  });
});
