/**
 * Two relays per site in the console (issue 14): the site page lists every relay with its last
 * heartbeat, version and LANs, and says plainly when their DHCP ranges collide; the overview marks the
 * site. Server-rendered, no script involved, so fetch is the browser here (support.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollmentCode } from '../contract/fixtures.ts';
import { call, unique } from '../contract/target.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { consoleClient, ok } from './support.ts';

let entry: SpawnedEntry;

beforeAll(async () => {
  entry = await spawnEntry({ name: 'console-relays', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
});
afterAll(async () => {
  await entry?.stop();
});

async function relay(siteId: string, version: string, lans: unknown[] | null): Promise<{ id: string; name: string; token: string }> {
  const name = unique('relay');
  const e = ok(await call(entry, 'POST', '/v1/relays/enroll', { token: null, json: { code: await enrollmentCode(entry, siteId), name, version } }), 201, 'enroll');
  if (lans) ok(await call(entry, 'POST', '/v1/relay/heartbeat', { token: e.token, json: { lans } }), 200, 'heartbeat');
  return { id: e.relay.id, name, token: e.token };
}

async function signedIn() {
  const c = consoleClient(entry.baseUrl);
  expect((await c.signIn(entry.adminToken)).status).toBe(303);
  return c;
}

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('console: relays of a site', () => {
  it('shows both relays with last seen, version and LANs, and their overlapping DHCP ranges as a conflict', async () => {
    const site = await createSite(entry);
    const a = await relay(site, '1.5.0', [{ interface: 'eth0', subnet: '10.50.0.0/24', mode: 'dhcp', range: ['10.50.0.100', '10.50.0.160'], relayed: false }]);
    const b = await relay(site, '1.5.1', [{ interface: 'eth1', subnet: '10.50.0.0/24', mode: 'dhcp', range: ['10.50.0.150', '10.50.0.199'], relayed: false }]);
    const c = await signedIn();
    const page = await c.get(`/console/sites/${site}`);
    expect(page.status).toBe(200);
    const t = text(page.html);
    expect(t).toMatch(new RegExp(`${a.name} online \\d+ s ago 1\\.5\\.0 .*eth0 10\\.50\\.0\\.0/24 dhcp 10\\.50\\.0\\.100–10\\.50\\.0\\.160`));
    expect(t).toMatch(new RegExp(`${b.name} online \\d+ s ago 1\\.5\\.1 .*eth1 10\\.50\\.0\\.0/24 dhcp 10\\.50\\.0\\.150–10\\.50\\.0\\.199`));
    expect(page.html).toContain('role="alert"');
    expect(t).toContain(`${a.name} and ${b.name} on 10.50.0.0/24 : ranges overlap: 10.50.0.100–10.50.0.160 and 10.50.0.150–10.50.0.199`);
    expect(t).toContain(`${b.name} and ${a.name} on 10.50.0.0/24 : ranges overlap: 10.50.0.150–10.50.0.199 and 10.50.0.100–10.50.0.160`);
    const overview = text((await c.get('/console')).html);
    expect(overview).toMatch(/2\/2 relays online relays conflict/);

    // Split pools: B narrows its range; the warning goes.
    ok(await call(entry, 'POST', '/v1/relay/heartbeat', { token: b.token, json: { lans: [{ interface: 'eth1', subnet: '10.50.0.0/24', mode: 'dhcp', range: ['10.50.0.161', '10.50.0.199'], relayed: false }] } }), 200, 'heartbeat');
    const fixed = await c.get(`/console/sites/${site}`);
    expect(fixed.html).not.toContain('Relays of this site conflict');
    expect(text(fixed.html)).toContain('eth1 10.50.0.0/24 dhcp 10.50.0.161–10.50.0.199');
  });

  it('shows a proxy relay beside a DHCP relay without a warning, and a relay that never reported its LANs', async () => {
    const site = await createSite(entry);
    await relay(site, '1.5.0', [{ interface: 'eth0', subnet: '10.51.0.0/24', mode: 'dhcp', range: ['10.51.0.100', '10.51.0.199'], relayed: false }]);
    const proxy = await relay(site, '1.5.0', [{ interface: 'eth0', subnet: '10.51.0.0/24', mode: 'proxy', range: null, relayed: false }]);
    const old = await relay(site, '1.4.0', null);
    const page = await (await signedIn()).get(`/console/sites/${site}`);
    const t = text(page.html);
    expect(page.html).not.toContain('Relays of this site conflict');
    expect(t).toContain(`${proxy.name} online`);
    expect(t).toContain('eth0 10.51.0.0/24 proxy');
    expect(t).toMatch(new RegExp(`${old.name} enrolled, never seen never 1\\.4\\.0 .*not reported`));
  });
});
