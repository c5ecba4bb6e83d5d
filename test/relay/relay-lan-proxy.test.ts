import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { decodeDhcp, getOption, type DhcpPacket } from '../../relay/src/dhcp/codec.ts';
import { OPT } from '../../relay/src/dhcp/options.ts';
import { fromHex } from '../../relay/src/dhcp/read.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { createTestbed, requireTools, type Spawned, type Testbed } from '../support/netns.ts';
import { expectSameAsDnsmasq } from './dhcp/same-as-dnsmasq.ts';
import { cloudBridge, type CloudBridge, pxeClient, startForwarder, startRelayInNs, type RelayInNs } from './support/lan.ts';
import { until } from './support/relay-harness.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

/**
 * The relay in proxy mode on a LAN of network namespaces, beside dnsmasq as the site router's DHCP
 * server (addresses only), with the real `edgeboot-relay run` process and real clients: the scripted
 * PXE client (firmware packets captured from OVMF, iPXE and a BIOS ROM), tftp-hpa, curl.
 *
 *   router 10.88.0.1 (dnsmasq) ─┐
 *   relay  10.88.0.2 ───────────┼── LAN ── client 10.88.0.50
 *
 * Its replies are compared field by field with dnsmasq's own proxy mode, run first on the same
 * address with the configuration a site would write (test/relay/dhcp/fixtures/regenerate.sh).
 */
requireTools(['dnsmasq', 'tftp', 'curl']);

const RELAY_IP = '10.88.0.2';
const IPXE_DIR = '/usr/lib/ipxe';
const KINDS = ['bios', 'uefi', 'ipxe', 'http'] as const;
type Kind = (typeof KINDS)[number];

let bed: Testbed;
let cloud: TestCloud;
let bridge: CloudBridge;
let creds: Credentials;
let site: string;
let relay: RelayInNs;
let unixPath: string;
const macs = {} as Record<Kind, string>;
let localMac: string;
let kernelId: string;

type Line = Record<string, unknown>;
const repliesFrom = (lines: Line[], from: string, step?: number) =>
  lines
    .filter((l) => l.event === 'reply' && String(l.from).startsWith(`${from}:`) && (step === undefined || l.step === step))
    .map((l) => ({ ms: l.ms as number, pkt: decodeDhcp(fromHex(l.hex as string)) as DhcpPacket }));

/** DISCOVER (1.5 s of replies), then, for firmware that does so, the 4011 REQUEST to the proxy. */
const exchange = (kind: Kind) => ({
  kind,
  mac: macs[kind],
  steps: [{ do: 'discover', wait: 1500 }, ...(kind === 'http' ? [] : [{ do: 'request4011', server: RELAY_IP, ciaddr: '10.88.0.50', wait: 1500, first: true }])],
});

const theirs = {} as Record<Kind, Line[]>;

beforeAll(async () => {
  cloud = await startTestCloud();
  site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
  kernelId = (await uploadImage(cloud, randomBytesOf(64 * 1024))).id;
  for (const k of KINDS) macs[k] = (await bootableMachine(cloud, site, [kernelId])).mac;
  localMac = randomMac();
  const local = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('disk'), spec: { kind: 'local' } } });
  await call(cloud, 'POST', '/v1/machines', { json: { mac: localMac, siteId: site } });
  await call(cloud, 'POST', '/v1/assignments', { json: { profileId: (local.body as { id: string }).id, selector: { mac: localMac } } });

  const work = mkdtempSync(join(tmpdir(), 'edgeboot-lan-'));
  unixPath = join(work, 'cloud.sock');
  bridge = await cloudBridge(cloud, unixPath);
  bed = await createTestbed('lanproxy');
  for (const n of ['router', 'relay', 'client']) await bed.namespace(n);
  await bed.lan('lan');
  await bed.attach('router', 'lan', 'eth0', '10.88.0.1/24');
  await bed.attach('relay', 'lan', 'eth0', `${RELAY_IP}/24`, { broadcastRoute: false });
  await bed.attach('client', 'lan', 'eth0', '10.88.0.50/24');
  const router = bed.spawn('router', 'dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--no-ping', '--log-dhcp', '--dhcp-range=10.88.0.100,10.88.0.199,255.255.255.0,10m', `--dhcp-leasefile=${join(work, 'router.leases')}`]);
  await router.waitForLine(/DHCP, IP range/, 10_000);

  // The reference: dnsmasq's proxy mode on the relay's address, configured as a site would.
  const proxy: Spawned = bed.spawn('relay', 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--log-dhcp', '--dhcp-range=10.88.0.0,proxy,255.255.255.0', '--dhcp-userclass=set:ipxe,iPXE', '--pxe-prompt=edgeboot,0',
    '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly', '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
    `--pxe-service=tag:ipxe,x86PC,edgeboot,http://${RELAY_IP}:8080/boot`, `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,http://${RELAY_IP}:8080/boot`,
    `--dhcp-leasefile=${join(work, 'proxy.leases')}`,
  ]);
  await proxy.waitForLine(/proxy on subnet/, 10_000);
  for (const k of KINDS) theirs[k] = await pxeClient(bed, 'client', exchange(k));
  await proxy.kill();

  await startForwarder(bed, 'relay', unixPath);
  relay = await startRelayInNs(bed, 'relay', {
    creds,
    stateDir: join(work, 'relay'),
    toml: `interface = "eth0"\nmode = "proxy"\nboot_files = "${IPXE_DIR}"\n[http]\nport = 8080\npublic_url = "http://${RELAY_IP}:8080"\n[sync]\nwait_seconds = 5\n`,
  });
}, 120_000);

afterAll(async () => {
  await bed?.cleanup();
  bridge?.close();
  await cloud?.close();
});

describe('relay in proxy mode beside the site router (network namespaces)', () => {
  for (const kind of KINDS) {
    it(`answers a ${kind} client like dnsmasq's proxy mode, field by field, and leaves addresses to the router`, async () => {
      const ours = await pxeClient(bed, 'client', exchange(kind));
      const [myOffer, ...extraOffers] = repliesFrom(ours, RELAY_IP, 0);
      expect(myOffer, JSON.stringify(ours)).toBeDefined();
      expect(extraOffers).toHaveLength(0);
      // The router's address offer, untouched (iPXE clears the broadcast flag, so the router unicasts
      // its offer to an address this test client does not hold, and the kernel drops it).
      if (kind !== 'ipxe') expect(repliesFrom(ours, '10.88.0.1', 0)).toHaveLength(1);
      expect(myOffer!.pkt.yiaddr).toBe('0.0.0.0');
      const [refOffer] = repliesFrom(theirs[kind], RELAY_IP, 0);
      if (kind === 'http') {
        // dnsmasq's proxy ignores UEFI HTTP boot; we answer it with HTTPClient and the binary's URL.
        expect(refOffer).toBeUndefined();
        expect(new TextDecoder().decode(getOption(myOffer!.pkt, OPT.vendorClass))).toBe('HTTPClient');
        expect(new TextDecoder().decode(getOption(myOffer!.pkt, OPT.bootFileName))).toBe(`http://${RELAY_IP}:8080/ipxe/ipxe.efi`);
        return;
      }
      // Departures on purpose (relay/src/dhcp/reply.ts): UEFI firmware gets 43.6 "use this boot file",
      // iPXE gets siaddr — each saves the client a trip to port 4011.
      expectSameAsDnsmasq(myOffer!.pkt, refOffer!.pkt, { option43: kind === 'bios', sameExchange: false, siaddr: kind !== 'ipxe' });
      const [myAck] = repliesFrom(ours, RELAY_IP, 1);
      const [refAck] = repliesFrom(theirs[kind], RELAY_IP, 1);
      expect(myAck, JSON.stringify(ours)).toBeDefined();
      expectSameAsDnsmasq(myAck!.pkt, refAck!.pkt, { option43: kind === 'bios', sameExchange: false });
      const file = myAck!.pkt.file || new TextDecoder().decode(getOption(myAck!.pkt, OPT.bootFileName));
      expect(file).toMatch(kind === 'bios' ? /^undionly\.kpxe$/ : kind === 'uefi' ? /^ipxe\.efi$/ : new RegExp(`^http://${RELAY_IP}:8080/boot\\?mac=${macs.ipxe.replaceAll(':', '-')}&nonce=`));
    });
  }

  it('stays silent for a machine whose assignment is its local disk (its firmware falls through to disk)', async () => {
    const lines = await pxeClient(bed, 'client', { kind: 'uefi', mac: localMac, steps: [{ do: 'discover', wait: 1500 }] });
    expect(repliesFrom(lines, RELAY_IP)).toHaveLength(0);
    expect(repliesFrom(lines, '10.88.0.1')).toHaveLength(1);
  });

  it('serves the iPXE binaries over TFTP to tftp-hpa and curl, byte for byte, and over HTTP for HTTP boot', async () => {
    const want = readFileSync(join(IPXE_DIR, 'ipxe.efi'));
    const hpa = await bed.run('client', 'sh', ['-c', `cd "$(mktemp -d)" && tftp -m binary ${RELAY_IP} -c get ipxe.efi && sha256sum ipxe.efi`]);
    const curl = await bed.run('client', 'sh', ['-c', `curl -sS --tftp-blksize 1468 tftp://${RELAY_IP}/ipxe.efi | sha256sum`]);
    const http = await bed.run('client', 'sh', ['-c', `curl -sS --fail http://${RELAY_IP}:8080/ipxe/ipxe.efi | sha256sum`]);
    const sum = (await import('node:crypto')).createHash('sha256').update(want).digest('hex');
    for (const r of [hpa, curl, http]) expect(r.stdout, r.stderr).toContain(sum);
  });

  it('gives iPXE a script URL that only this client can use, and the script boots the assigned kernel', async () => {
    const lines = await pxeClient(bed, 'client', { kind: 'ipxe', mac: macs.ipxe, steps: [{ do: 'discover', wait: 1500 }] });
    const [offer] = repliesFrom(lines, RELAY_IP);
    const url = (offer!.pkt.file || new TextDecoder().decode(getOption(offer!.pkt, OPT.bootFileName))).replace('${uuid}', '');
    const script = await bed.run('client', 'curl', ['-sS', '--fail', url]);
    expect(script.stdout, script.stderr).toMatch(/^#!ipxe/);
    expect(script.stdout).toContain(`/files/${kernelId}/`);
    // Spent: the same URL a second time (a replay by someone who saw it) is refused.
    const again = await bed.run('client', 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', url]);
    expect(again.stdout).toBe('403');
  });

  it('survives thousands of malformed packets on 67 and 4011, counts them, and answers the next DISCOVER within 500 ms', async () => {
    const lines = await pxeClient(bed, 'client', {
      kind: 'uefi',
      mac: macs.uefi,
      steps: [
        { do: 'flood', count: 3000, port: 67, seed: 7 },
        { do: 'flood', count: 1000, to: RELAY_IP, port: 4011, seed: 8 },
        // All replies within 1.5 s (the router's comes too: stopping at the first could miss ours).
        { do: 'discover', wait: 1500 },
      ],
    }, 120_000);
    const [offer] = repliesFrom(lines, RELAY_IP, 2);
    expect(offer, JSON.stringify(lines.slice(-5))).toBeDefined();
    expect(offer!.ms).toBeLessThan(500);
    const metrics = await bed.run('client', 'curl', ['-sS', `http://${RELAY_IP}:8080/metrics`]);
    const dropped = [...metrics.stdout.matchAll(/^edgeboot_relay_dhcp_drops\{reason="malformed"\} (\d+)$/gm)].map((m) => Number(m[1]));
    expect(dropped[0]).toBeGreaterThan(2000);
    expect(relay.process.child.exitCode).toBeNull();
  });

  it('keeps booting a known machine through a WAN cut: offer, binary and script from local state; events arrive once after', async () => {
    // A first boot while the cloud is up puts the machine's script in the relay's cache.
    const first = await pxeClient(bed, 'client', { kind: 'ipxe', mac: macs.uefi, steps: [{ do: 'discover', wait: 1000 }] });
    const url1 = (repliesFrom(first, RELAY_IP)[0]!.pkt.file).replace('${uuid}', '');
    expect((await bed.run('client', 'curl', ['-sS', '--fail', url1])).stdout).toMatch(/^#!ipxe/);
    await until('the first boot events in the cloud', async () => (await cloud.deps.db.all(sql("SELECT id FROM boot_events WHERE mac = ? AND stage = 'script-fetched'", macs.uefi))).length >= 1);

    await cloud.stop();
    try {
      const fw = await pxeClient(bed, 'client', { kind: 'uefi', mac: macs.uefi, steps: [{ do: 'discover', wait: 1500 }, { do: 'request4011', server: RELAY_IP, ciaddr: '10.88.0.50', wait: 1500, first: true }] });
      expect(repliesFrom(fw, RELAY_IP, 0)[0]!.pkt.file).toBe('ipxe.efi');
      const tftp = await bed.run('client', 'sh', ['-c', `curl -sS --tftp-blksize 1468 tftp://${RELAY_IP}/ipxe.efi | wc -c`]);
      expect(Number(tftp.stdout.trim())).toBe(readFileSync(join(IPXE_DIR, 'ipxe.efi')).length);
      const ipxe = await pxeClient(bed, 'client', { kind: 'ipxe', mac: macs.uefi, steps: [{ do: 'discover', wait: 1000 }] });
      const url = (repliesFrom(ipxe, RELAY_IP)[0]!.pkt.file).replace('${uuid}', '');
      const script = await bed.run('client', 'curl', ['-sS', '-D', '-', '--fail', url]);
      expect(script.stdout).toMatch(/x-edgeboot-source: cache/i);
      expect(script.stdout).toContain('#!ipxe');
    } finally {
      await cloud.start();
    }
    // What happened during the cut reaches the cloud once it is back — each event exactly once.
    const rows = await until('the events of the cut in the cloud', async () => {
      const r = await cloud.deps.db.all<{ id: string; stage: string }>(sql('SELECT id, stage FROM boot_events WHERE mac = ? ORDER BY at', macs.uefi));
      return r.filter((x) => x.stage === 'script-fetched').length >= 2 && r.some((x) => x.stage === 'tftp-done') ? r : null;
    }, 30_000);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    expect(rows.map((r) => r.stage)).toEqual(expect.arrayContaining(['proxy-offer', 'dhcp-ack', 'tftp-done', 'script-fetched']));
  });
});
