import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWatch, grubStub, signedChainProvider } from '../../relay/src/secure-boot/chain.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { paddedBinary } from '../contract/debian-binaries.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { get, startTestRelay, until, type RelayUnderTest } from './support/relay-harness.ts';
import { createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

/*
 * The relay's side of the signed UEFI x64 chain, against the in-process cloud: the shim and GRUB the
 * snapshot names are fetched into the cache before any machine asks; DHCP's answer; TFTP's shim, GRUB
 * and per-client GRUB stub; GRUB's configuration over HTTP with its nonce, ranged re-reads and file
 * grants; GRUB's failure reports. The binaries are trixie's shim and GRUB and a signed Debian kernel
 * (their real first 4 KiB at their real size: what the catalog checks; nothing here executes them).
 */

let cloud: TestCloud;
let creds: Credentials;
let site: string;
let relay: RelayUnderTest;
let chain: { shim: string; grub: string };
let kernel: string;
let initrd: string;
const shimBytes = paddedBinary('shim');

async function efi(bytes: Uint8Array, kind: string): Promise<string> {
  const img = await call(cloud, 'POST', '/v1/images', { json: { name: unique(kind), kind } });
  const put = await call(cloud, 'PUT', `/v1/images/${img.body.id}/content`, { body: bytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
  if (put.status !== 200) throw new Error(`upload: ${put.status} ${put.text}`);
  return img.body.id;
}

/** A machine of the site whose profile boots UEFI x64 through the chain. */
async function chainMachine(cmdline = 'console=ttyS0'): Promise<string> {
  const mac = randomMac();
  const p = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('sb'), spec: { kind: 'linux', kernel, initrds: [initrd], cmdline, ...chain } } });
  expect(p.status, p.text).toBe(201);
  expect((await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site, arch: 'uefi-x64' } })).status).toBe(201);
  expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: p.body.id, selector: { mac } } })).status).toBe(201);
  await until('the relay to know the machine boots through the chain', () => relay.context.snapshot.loaderFor(mac));
  return mac;
}

/** What the TFTP server does for /grub/grub.cfg: the stub for the client at `ip`, whose MAC is `mac`. */
function stubFor(mac: string, ip = '127.0.0.1'): string {
  const provider = relay.context.signedChain!.provider((a) => (a === ip ? mac : undefined));
  const opened = provider.open('/grub/grub.cfg', { address: ip });
  if (!opened.ok) throw new Error(opened.message);
  return Buffer.from(opened.content.read(0, opened.content.size)).toString();
}

/** The configuration URL the stub names, as plain http:// for this test's client. */
function configUrl(stub: string): string {
  const m = /configfile '\(http,([^)]+)\)(\/grub\/[^']+)'/.exec(stub);
  if (!m) throw new Error(`no configfile in ${stub}`);
  return `http://${m[1]}${m[2]}`;
}
const grubToHttp = (s: string) => s.replace(/^\(http,([^)]+)\)/, 'http://$1');

beforeAll(async () => {
  cloud = await startTestCloud();
  site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
  chain = { shim: await efi(shimBytes, 'efi'), grub: await efi(paddedBinary('grub'), 'efi') };
  kernel = await efi(paddedBinary('kernel'), 'kernel');
  initrd = (await uploadImage(cloud, randomBytesOf(64 * 1024))).id;
  relay = await startTestRelay(creds);
}, 60_000);
afterAll(async () => {
  await relay?.close();
  await cloud?.close();
});

describe('the signed chain on the relay', () => {
  it('fetches the shim and GRUB a snapshot names into its cache, and only then offers them to UEFI x64 firmware', async () => {
    const mac = await chainMachine();
    await until('shim and GRUB on local disk', () => relay.cache.localObject(chain.shim) && relay.cache.localObject(chain.grub));
    expect(relay.context.signedChain!.target(mac, true)).toEqual({ ok: true, target: { kind: 'tftp', file: `sb/${chain.shim}/${chain.grub}/shimx64.efi` } });
    // HTTP-boot firmware and machines without a chain keep their usual answer (null: the caller's iPXE path).
    expect(relay.context.signedChain!.target(mac, false)).toBeNull();
    expect(relay.context.signedChain!.target(randomMac(), true)).toBeNull();
  });

  it('serves shim and GRUB over TFTP from the cache under their chain path, and nothing else there', async () => {
    await chainMachine();
    await until('shim on disk', () => relay.cache.localObject(chain.shim));
    const provider = relay.context.signedChain!.provider(() => undefined);
    const shim = provider.open(`sb/${chain.shim}/${chain.grub}/shimx64.efi`, { address: '10.0.0.9' });
    expect(shim.ok).toBe(true);
    if (shim.ok) expect(Buffer.compare(Buffer.from(shim.content.read(0, shim.content.size)), Buffer.from(shimBytes))).toBe(0);
    for (const name of [`sb/${chain.shim}/${chain.grub}/revocations_sbat.efi`, `sb/${chain.shim}/img_nope/grubx64.efi`, `sb/../${chain.grub}/grubx64.efi`, 'grub/x86_64-efi/command.lst']) {
      expect(provider.open(name, { address: '10.0.0.9' }).ok, name).toBe(false);
    }
  });

  it('writes /grub/grub.cfg per client: a nonce-bound configuration URL for a known MAC, a way out for an unknown one', async () => {
    const mac = await chainMachine();
    const stub = stubFor(mac);
    expect(stub).toMatch(new RegExp(`^configfile '\\(http,127\\.0\\.0\\.1:${relay.port}\\)/grub/${mac.replaceAll(':', '-')}/[A-Za-z0-9_-]{22}'$`, 'm'));
    expect(grubStub(relay.httpUrl, undefined, undefined)).toContain('exit');
    expect(stubFor(mac, '10.9.9.9')).toMatch(/^configfile/m);
    const unknown = relay.context.signedChain!.provider(() => undefined).open('/grub/grub.cfg', { address: '10.9.9.9' });
    expect(unknown.ok && Buffer.from(unknown.content.read(0, unknown.content.size)).toString()).toContain('unknown client');
  });

  it("serves the machine's GRUB configuration to that client only, the same bytes on GRUB's ranged re-reads, with cache grants for its files", async () => {
    const mac = await chainMachine('console=ttyS0 token={{callbackToken}}');
    const url = configUrl(stubFor(mac));
    const r = await get(url);
    expect(r.status, r.body.toString()).toBe(200);
    const config = r.body.toString();
    expect(config).not.toContain('/v1/files/');
    const files = [...config.matchAll(/'(\(http,[^)]+\)\/files\/img_[0-9a-z]+\/[^']+)'/g)].map((m) => m[1]!);
    expect(new Set(files.map((f) => f.split('/')[2]))).toEqual(new Set([kernel, initrd]));
    const k = await get(grubToHttp(files.find((f) => f.includes(kernel))!));
    expect(k.status).toBe(200);
    expect(k.body.length).toBe(paddedBinary('kernel').length);
    // GRUB seeks by asking again with a Range: the same rendering, not a new boot.
    const again = await get(url, { headers: { range: 'bytes=10-' } });
    expect(again.status).toBe(206);
    expect(again.body.toString()).toBe(config.slice(10));
    // Another address with the same URL, and a nonce nobody issued, are refused — in GRUB's language: a
    // configuration that says why and leaves to the firmware (an HTTP error would leave GRUB at its prompt).
    for (const refused of [await get(url, { localAddress: '127.0.0.2' }), await get(url.replace(/\/[A-Za-z0-9_-]{22}$/, '/AAAAAAAAAAAAAAAAAAAAAA'))]) {
      expect(refused.headers['x-edgeboot-status']).toBe('403');
      expect(refused.body.toString()).toBe("# edgeboot: the relay answered 403\necho 'edgeboot: this boot script is only for the client that PXE-booted as this machine'\necho 'edgeboot: leaving to the firmware'\nsleep 5\nexit\n");
    }
    const boots = await cloud.deps.db.all<{ id: string }>(sql('SELECT b.id FROM boots b JOIN machines m ON m.id = b.machine_id WHERE m.mac = ?', mac));
    expect(boots).toHaveLength(1);
  });

  it('renders a menu as GRUB menu entries whose choices each get their own configuration, for this client only', async () => {
    const item = async (choice: string) => (await call(cloud, 'POST', '/v1/profiles', { json: { name: unique(choice), spec: { kind: 'linux', kernel, initrds: [initrd], cmdline: `choice=${choice}`, ...chain } } })).body.id as string;
    const [a, b] = [await item('a'), await item('b')];
    const mac = randomMac();
    const menu = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('menu'), spec: { kind: 'menu', title: 'Pick one', timeoutSeconds: 5, items: [{ label: 'A', profileId: a }, { label: 'B', profileId: b }], defaultItem: 0, ...chain } } });
    expect(menu.status, menu.text).toBe(201);
    expect((await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site, arch: 'uefi-x64' } })).status).toBe(201);
    expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: menu.body.id, selector: { mac } } })).status).toBe(201);
    await until('the relay to know the menu boots through the chain', () => relay.context.snapshot.loaderFor(mac));
    const config = (await get(configUrl(stubFor(mac)))).body.toString();
    expect(config).toContain('set default=p0');
    const entries = [...config.matchAll(/configfile '(\(http,[^)]+\)\/grub\/[0-9a-f-]+\/[A-Za-z0-9_-]{22}\/(prf_[0-9a-z]+))'/g)].map((m) => ({ url: grubToHttp(m[1]!), profile: m[2]! }));
    expect(entries.map((e) => e.profile)).toEqual([a, b]);
    // One nonce for the menu's entries, each choice its own rendering (and the same again on a re-read).
    const chosenA = (await get(entries[0]!.url)).body.toString();
    const chosenB = (await get(entries[1]!.url)).body.toString();
    expect(chosenA).toContain("'choice=a'");
    expect(chosenB).toContain("'choice=b'");
    expect((await get(entries[0]!.url)).body.toString()).toBe(chosenA);
    expect((await get(entries[1]!.url, { localAddress: '127.0.0.2' })).headers['x-edgeboot-status']).toBe('403');
  });

  it("turns GRUB's failure report into a loader-failed stage on that machine's timeline, and refuses a forged one", async () => {
    const mac = await chainMachine();
    const config = (await get(configUrl(stubFor(mac)))).body.toString();
    const report = /cat '(\(http,[^)]+\)\/grub\/report\/[^']+\/kernel-refused)'/.exec(config)![1]!;
    expect((await get(grubToHttp(report))).status).toBe(200);
    const row = await until('the stage in the cloud', () => cloud.deps.db.first<{ detail: string }>(sql("SELECT detail FROM boot_events WHERE mac = ? AND stage = 'loader-failed'", mac)));
    expect(JSON.parse(row.detail)).toMatchObject({ loader: 'grub', reason: 'kernel-refused' });
    // The boot it ended is failed, with the reason, and so is the machine (as after a failed callback).
    const boot = await until('the boot to fail', () => cloud.deps.db.first<{ state: string; log_tail: string }>(sql("SELECT b.state, b.log_tail FROM boots b JOIN machines m ON m.id = b.machine_id WHERE m.mac = ? AND b.state = 'failed'", mac)));
    expect(boot.log_tail).toBe('the boot loader gave up: kernel-refused');
    expect((await call(cloud, 'GET', `/v1/machines/${mac}`)).body.state).toBe('failed');
    expect((await get(grubToHttp(report), { localAddress: '127.0.0.2' })).status).toBe(403);
    expect((await get(grubToHttp(report.replace(/kernel-refused$/, 'anything-else')))).status).toBe(403);
  });

  it('answers GRUB (User-Agent "GRUB 2.12") with header names spelled as GRUB matches them, and leaves closing to GRUB', async () => {
    const mac = await chainMachine();
    const url = new URL(configUrl(stubFor(mac)));
    const raw = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { 'user-agent': 'GRUB 2.12', connection: 'keep-alive' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(`${res.rawHeaders.filter((_, i) => i % 2 === 0).join(',')}|${res.headers.connection}`));
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.split('|')[0]!.split(',')).toContain('Content-Length');
    // The relay must not close first: its TIME_WAIT would refuse the next boot's identical SYN.
    expect(raw.split('|')[1]).toBe('keep-alive');
  });

  it("resets a client's lingering connections when its GRUB starts again (it reuses its port and sequence number)", async () => {
    const mac = await chainMachine();
    const url = new URL(configUrl(stubFor(mac)));
    const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { 'user-agent': 'GRUB 2.12', connection: 'keep-alive' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.on('error', reject);
      req.end();
    });
    expect(socket.destroyed).toBe(false);
    const closed = new Promise<string>((resolve) => {
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      socket.on('close', () => resolve('closed'));
    });
    stubFor(mac); // the TFTP request for /grub/grub.cfg from the same address
    expect(['ECONNRESET', 'closed']).toContain(await closed);
  });
});

describe('the signed chain through a WAN cut', () => {
  it("serves a known machine its last GRUB configuration from the relay's copy, quickly, and an unknown one a way out", async () => {
    const mac = await chainMachine();
    const first = (await get(configUrl(stubFor(mac)))).body.toString();
    await cloud.stop();
    try {
      const cut = await get(configUrl(stubFor(mac)));
      expect(cut.headers['x-edgeboot-source']).toBe('cache');
      // The same rendering, re-granted for this serving: the kernel and initrd lines name the same images.
      const images = (t: string) => [...t.matchAll(/\/files\/(img_[0-9a-z]+)\//g)].map((m) => m[1]).sort();
      expect(images(cut.body.toString())).toEqual(images(first));
      const unknown = await get(configUrl(stubFor(randomMac())));
      expect(unknown.headers['x-edgeboot-status']).toBe('503');
      expect(unknown.body.toString()).toContain('exit');
    } finally {
      await cloud.start();
    }
  });
});

describe('noticing firmware that refused shim', () => {
  it('says so when a machine asks DHCP again after fetching shim, without fetching GRUB, within the window', () => {
    let now = 0;
    const w = new ChainWatch({ windowMs: 120_000, now: () => now });
    w.served('aa:bb:cc:dd:ee:01', 'shimx64.efi');
    now = 20_000;
    expect(w.refusedShim('aa:bb:cc:dd:ee:01')).toBe(true);
    expect(w.refusedShim('aa:bb:cc:dd:ee:01')).toBe(false); // reported once
    w.served('aa:bb:cc:dd:ee:02', 'shimx64.efi');
    w.served('aa:bb:cc:dd:ee:02', 'grubx64.efi');
    expect(w.refusedShim('aa:bb:cc:dd:ee:02')).toBe(false); // shim ran: it asked for GRUB
    w.served('aa:bb:cc:dd:ee:03', 'shimx64.efi');
    now = 200_000;
    expect(w.refusedShim('aa:bb:cc:dd:ee:03')).toBe(false); // too long ago: another boot
  });

  it('records the fetch from the TFTP provider, and stays bounded', () => {
    const w = new ChainWatch({ max: 2 });
    const p = signedChainProvider({ localObject: () => ({ path: '/dev/null', size: 0 }), macFor: (a) => `aa:bb:cc:dd:ee:${a.slice(-2)}`, issueNonce: () => 'n', httpBase: 'http://10.0.0.2:8080', watch: w });
    for (const ip of ['10.0.0.11', '10.0.0.12', '10.0.0.13']) p.open('sb/img_aaaaaaaaaaaaaaaaaaaaaaaaaa/img_bbbbbbbbbbbbbbbbbbbbbbbbbb/shimx64.efi', { address: ip });
    expect(w.refusedShim('aa:bb:cc:dd:ee:11')).toBe(false); // evicted
    expect(w.refusedShim('aa:bb:cc:dd:ee:13')).toBe(true);
  });
});
