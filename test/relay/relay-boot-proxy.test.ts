import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileGrants } from '../../relay/src/http/file-grants.ts';
import { NonceRegistry } from '../../relay/src/http/nonces.ts';
import { scriptUrl as bootScriptUrl } from '../../relay/src/dhcp/boot-target.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { call, randomMac } from '../contract/target.ts';
import { get, startTestRelay, until, type RelayUnderTest } from './support/relay-harness.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

let cloud: TestCloud;
let creds: Credentials;
let site: string;
let relay: RelayUnderTest;
let kernel: { id: string; bytes: Uint8Array };
let initrd: { id: string; bytes: Uint8Array };

beforeAll(async () => {
  cloud = await startTestCloud();
  site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
  const k = randomBytesOf(300 * 1024);
  const i = randomBytesOf(700 * 1024);
  kernel = { id: (await uploadImage(cloud, k)).id, bytes: k };
  initrd = { id: (await uploadImage(cloud, i)).id, bytes: i };
  relay = await startTestRelay(creds);
});
afterAll(async () => {
  await relay?.close();
  await cloud?.close();
});

/** What the DHCP layer does: a nonce for this MAC and client address, in the script URL. */
const scriptUrl = (r: RelayUnderTest, mac: string, ip = '127.0.0.1') => r.context.scriptUrl(mac, ip, 0);
const fileUrls = (script: string) => [...script.matchAll(/http:\/\/\S+\/files\/img_[0-9a-z]+\/\S+/g)].map((m) => m[0]);

describe('boot script proxy', () => {
  it('serves the script with image URLs rewritten to grants for this client', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id, initrd.id]);
    const r = await get(scriptUrl(relay, mac));
    expect(r.status).toBe(200);
    const script = r.body.toString();
    expect(script).toMatch(/^#!ipxe/);
    expect(script).not.toContain('/v1/files/');
    expect(script).toContain(`${relay.httpUrl}/v1/callback`); // callbacks come through this relay
    const urls = fileUrls(script);
    expect(new Set(urls.map((u) => u.split('/')[4]))).toEqual(new Set([kernel.id, initrd.id]));
    const k = await get(urls.find((u) => u.includes(kernel.id))!);
    expect(k.status).toBe(200);
    expect(Buffer.compare(k.body, Buffer.from(kernel.bytes))).toBe(0);
    // The relay reports what it served, through its event queue.
    const stages = await until('the relay events in the cloud', async () => {
      const rows = await cloud.deps.db.all<{ stage: string }>(sql("SELECT stage FROM boot_events WHERE mac = ? AND source = 'relay' ORDER BY at", mac));
      return rows.length >= 3 ? rows.map((x) => x.stage) : null;
    });
    expect(stages.sort()).toEqual(['file-done', 'file-fetched', 'script-fetched']);
    // Again, now from the relay's hot memory copy (written in one go): still a completed download.
    expect((await get(urls.find((u) => u.includes(kernel.id))!)).complete).toBe(true);
    const done = await until('the second file-done', async () => {
      const rows = await cloud.deps.db.all<{ stage: string }>(sql("SELECT stage FROM boot_events WHERE mac = ? AND stage LIKE 'file-%' AND stage != 'file-fetched'", mac));
      return rows.length >= 2 ? rows.map((x) => x.stage) : null;
    });
    expect(done).toEqual(['file-done', 'file-done']);
  });

  it('passes installers\' callbacks through to the cloud, with the cloud\'s answer', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id]);
    const script = (await get(scriptUrl(relay, mac))).body.toString();
    const m = /edgeboot\.callback=(\S+) edgeboot\.token=(ebc_\S+)/.exec(script)!;
    expect(m[1]).toBe(`${relay.httpUrl}/v1/callback`);
    const started = await fetch(`${m[1]}/started?mac=${mac}`, { method: 'POST', headers: { authorization: `Bearer ${m[2]}`, 'content-type': 'application/json' }, body: '{"message":"partitioning"}' });
    expect(started.status).toBe(200);
    expect(await started.json()).toMatchObject({ state: 'started' });
    const forged = await fetch(`${m[1]}/started`, { method: 'POST', headers: { authorization: `Bearer ebc_${'a'.repeat(32)}` } });
    expect(forged.status).toBe(401);
  });

  it("hands the imager its job with the disk image as a cache grant for this client, and passes answer files through", async () => {
    const diskBytes = randomBytesOf(256 * 1024);
    const diskImg = await call(cloud, 'POST', '/v1/images', { json: { name: `disk-${randomMac()}`, kind: 'disk-raw' } });
    const put = await call(cloud, 'PUT', `/v1/images/${diskImg.body.id}/content`, { body: diskBytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status, put.text).toBe(200);
    const mac = randomMac();
    const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: `imaging-${mac}`, spec: { kind: 'imaging', kernel: kernel.id, initrds: [initrd.id], diskImage: diskImg.body.id } } });
    expect(profile.status, profile.text).toBe(201);
    expect((await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site, arch: 'bios' } })).status).toBe(201);
    expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: profile.body.id, selector: { mac } } })).status).toBe(201);
    const script = (await get(scriptUrl(relay, mac))).body.toString();
    const m = /edgeboot\.callback=(\S+) edgeboot\.token=(ebc_\S+) edgeboot\.mac=(\S+)/.exec(script)!;
    expect([m[1], m[3]]).toEqual([`${relay.httpUrl}/v1/callback`, mac]);
    const job = await fetch(`${m[1]}/job`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m[2]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ disks: [{ name: 'vda', path: '/dev/vda', size: 1 << 30 }] }),
    });
    expect(job.status).toBe(200);
    const body = (await job.json()) as { image: { url: string; sha256: string; size: number } };
    expect(body.image.url).toMatch(new RegExp(`^${relay.httpUrl}/files/${diskImg.body.id}/[0-9]+\\.[0-9a-f]{12}\\.[A-Za-z0-9_-]{22}$`));
    const bytes = await get(body.image.url);
    expect(bytes.status).toBe(200);
    expect(Buffer.compare(bytes.body, Buffer.from(diskBytes))).toBe(0);
    expect(body.image.size).toBe(diskBytes.length);

    const linux = await call(cloud, 'POST', '/v1/profiles', {
      json: { name: `preseed-${mac}`, spec: { kind: 'linux', kernel: kernel.id, cmdline: 'url={{filesUrl}}/preseed.cfg', files: [{ name: 'preseed.cfg', template: 'd-i netcfg/get_hostname string {{mac}}\n' }] } },
    });
    const mac2 = randomMac();
    expect((await call(cloud, 'POST', '/v1/machines', { json: { mac: mac2, siteId: site, arch: 'bios' } })).status).toBe(201);
    expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: linux.body.id, selector: { mac: mac2 } } })).status).toBe(201);
    const preseedUrl = /url=(\S+)/.exec((await get(scriptUrl(relay, mac2))).body.toString())![1]!;
    expect(preseedUrl.startsWith(`${relay.httpUrl}/v1/callback/files/ebc_`)).toBe(true);
    const preseed = await fetch(preseedUrl);
    expect(preseed.status).toBe(200);
    expect(await preseed.text()).toBe(`d-i netcfg/get_hostname string ${mac2}\n`);
    expect((await fetch(preseedUrl, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${relay.httpUrl}/v1/callback/started`)).status).toBe(405);
  });

  it('refuses without a nonce, with a used one, or with another MAC\'s (403)', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id]);
    expect((await get(`${relay.httpUrl}/boot?mac=${mac}&arch=0`)).status).toBe(403);
    expect((await get(`${relay.httpUrl}/boot?mac=${mac}&nonce=forged&arch=0`)).status).toBe(403);
    const url = scriptUrl(relay, mac);
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(403); // single use
    const other = scriptUrl(relay, randomMac());
    expect((await get(other.replace(/mac=[^&]+/, `mac=${mac.replaceAll(':', '-')}`))).status).toBe(403);
  });

  it('refuses a nonce presented from another client address, and grants do not travel either', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id]);
    expect((await get(scriptUrl(relay, mac, '127.0.0.1'), { localAddress: '127.0.0.2' })).status).toBe(403);
    const r = await get(scriptUrl(relay, mac, '127.0.0.2'), { localAddress: '127.0.0.2' });
    expect(r.status).toBe(200);
    const url = fileUrls(r.body.toString())[0]!;
    expect((await get(url, { localAddress: '127.0.0.3' })).status).toBe(403);
    expect((await get(url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), { localAddress: '127.0.0.2' })).status).toBe(403);
    expect((await get(url, { localAddress: '127.0.0.2' })).status).toBe(200);
  });

  it('passes the cloud\'s refusal through instead of falling back to the cache', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id]);
    expect((await get(scriptUrl(relay, mac))).status).toBe(200); // now a script is cached for it
    const r = await get(`${scriptUrl(relay, mac)}&choose=prf_${'0'.repeat(26)}`);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toMatch(/not an item of the menu/);
  });

  it('rewrites menu items to the relay with a fresh nonce for the same client', async () => {
    const { profileId } = await bootableMachine(cloud, site, [kernel.id]);
    const mac = randomMac();
    const menu = await call(cloud, 'POST', '/v1/profiles', { json: { name: `menu-${Date.now()}`, spec: { kind: 'menu', items: [{ label: 'Install', profileId }] } } });
    await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site, arch: 'bios' } });
    expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: menu.body.id, selector: { mac } } })).status).toBe(201);
    const r = await get(scriptUrl(relay, mac));
    const script = r.body.toString();
    const choice = /chain (\S+choose=prf_[0-9a-z]+)/.exec(script)?.[1];
    expect(choice, script).toMatch(new RegExp(`^${relay.httpUrl}/boot\\?mac=[0-9a-f-]+&nonce=[A-Za-z0-9_-]+&arch=0&choose=${profileId}$`));
    const chosen = await get(choice!);
    expect(chosen.status).toBe(200);
    expect(fileUrls(chosen.body.toString()).length).toBeGreaterThan(0);
    expect((await get(choice!, { localAddress: '127.0.0.2' })).status).toBe(403);
  });
});

describe('WAN cut', () => {
  it('a known machine still gets its script and images from the relay, also after a relay restart', async () => {
    const { mac } = await bootableMachine(cloud, site, [kernel.id, initrd.id]);
    const first = await get(scriptUrl(relay, mac));
    for (const u of fileUrls(first.body.toString())) expect((await get(u)).status).toBe(200);
    await cloud.stop();
    try {
      const cut = await get(scriptUrl(relay, mac));
      expect(cut.status).toBe(200);
      expect(cut.headers['x-edgeboot-source']).toBe('cache');
      const urls = fileUrls(cut.body.toString());
      expect(urls).toHaveLength(fileUrls(first.body.toString()).length);
      const got = await get(urls.find((u) => u.includes(initrd.id))!);
      expect(got.status).toBe(200);
      expect(Buffer.compare(got.body, Buffer.from(initrd.bytes))).toBe(0);
      // A machine it never saw cannot be answered from a cache.
      expect((await get(scriptUrl(relay, randomMac()))).status).toBe(503);

      const port = relay.port;
      await relay.close();
      relay = await startTestRelay(creds, { stateDir: relay.stateDir, port });
      const after = await get(scriptUrl(relay, mac));
      expect(after.status).toBe(200);
      const k = await get(fileUrls(after.body.toString()).find((u) => u.includes(kernel.id))!);
      expect(Buffer.compare(k.body, Buffer.from(kernel.bytes))).toBe(0);
      // Grants minted before the restart still work (the key is in the state dir).
      expect((await get(fileUrls(first.body.toString())[0]!)).status).toBe(200);
    } finally {
      await cloud.start();
    }
  });
});

describe('nonces and grants', () => {
  it('a nonce expires after its lifetime and binds to the first address when issued without one', () => {
    let now = 1_000_000;
    const n = new NonceRegistry({ ttlMs: 1000, now: () => now });
    const mac = '52:54:00:aa:bb:cc';
    const a = n.issue(mac, '10.0.0.5');
    expect(n.check(a, '52-54-00-AA-BB-CC', '::ffff:10.0.0.5')).toBe('ok');
    now += 1000;
    expect(n.check(a, mac, '10.0.0.5')).toBe('expired');
    const b = n.issue(mac, null);
    expect(n.check(b, mac, '10.0.0.9')).toBe('ok');
    expect(n.check(b, mac, '10.0.0.8')).toBe('wrong-address');
    expect(n.check(null, mac, '10.0.0.9')).toBe('missing');
  });

  it('keeps a bounded number of nonces, forgetting the oldest', () => {
    const n = new NonceRegistry({ max: 3 });
    const first = n.issue('52:54:00:00:00:01', '10.0.0.1');
    for (let i = 0; i < 3; i++) n.issue('52:54:00:00:00:02', '10.0.0.2');
    expect(n.size).toBe(3);
    expect(n.check(first, '52:54:00:00:00:01', '10.0.0.1')).toBe('unknown');
  });

  it('a grant is valid only for its image, its client address and until its expiry', () => {
    let now = 5_000_000;
    const g = new FileGrants(Buffer.alloc(32, 7), { ttlMs: 60_000, now: () => now });
    const t = g.mint('img_a', '10.0.0.5', '52:54:00:aa:bb:cc');
    expect(g.verify('img_a', '10.0.0.5', t)).toBe('52:54:00:aa:bb:cc');
    expect(g.verify('img_b', '10.0.0.5', t)).toBeNull();
    expect(g.verify('img_a', '10.0.0.6', t)).toBeNull();
    expect(g.verify('img_a', '10.0.0.5', t.replace(/\.[0-9a-f]{12}\./, '.525400aabbcd.'))).toBeNull();
    now += 60_000;
    expect(g.verify('img_a', '10.0.0.5', t)).toBeNull();
    expect(new FileGrants(Buffer.alloc(32, 8)).verify('img_a', '10.0.0.5', t)).toBeNull();
  });

  it('writes the script URL for iPXE with the MAC spelled out and the arch', () => {
    expect(bootScriptUrl('http://10.0.0.1:8080', { mac: '52:54:00:aa:bb:cc', nonce: 'n0nce', arch: 7 })).toBe('http://10.0.0.1:8080/boot?mac=52-54-00-aa-bb-cc&nonce=n0nce&arch=7&uuid=${uuid}');
  });
});
