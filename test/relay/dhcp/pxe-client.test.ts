import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeError, decodeDhcp, getOption, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { OPT, PXE_SUBOPTIONS } from '../../../relay/src/dhcp/options.ts';
import { fromHex, pxeOptions, serverId, toHex, vendorClass } from '../../../relay/src/dhcp/read.ts';
import { createTestbed, requireTools, type Spawned, type Testbed } from '../../support/netns.ts';
import { fixture, fixtureBytes } from './fixtures.ts';
import { discoverPacket, malformedPackets, request4011Packet, requestPacket, type Kind, type Spec } from './support/pxe-client.ts';

/**
 * The scripted PXE client: its packets are the captured firmware packets with another identity, and
 * against dnsmasq (the reference the fixtures came from) each kind gets what the real firmware got.
 */
const ROOT = resolve(import.meta.dirname, '../../..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const CLIENT = join(ROOT, 'test/relay/dhcp/support/pxe-client.ts');
const FIRMWARE: Record<Kind, string> = { bios: 'a BIOS PXE ROM', uefi: 'an OVMF (UEFI x64)', ipxe: 'an iPXE', http: 'a UEFI HTTP boot', plain: 'a plain DHCP' };

describe('pxe-client packet builders', () => {
  it('rebuilds each captured DISCOVER byte for byte from the captured MAC and xid', () => {
    expect(discoverPacket('bios', { mac: '52:54:00:e8:00:10' }, 0x5eb10501)).toEqual(fixtureBytes('bios-rom-discover'));
    expect(discoverPacket('uefi', { mac: '52:54:00:e8:00:02' }, 0xf66210bd)).toEqual(fixtureBytes('ovmf-discover'));
    expect(discoverPacket('ipxe', { mac: '52:54:00:e8:00:01' }, 0x2ad1e415)).toEqual(fixtureBytes('ipxe-discover'));
    expect(discoverPacket('http', { mac: '52:54:00:e8:00:02' }, 0xf66210be)).toEqual(fixtureBytes('ovmf-http-discover'));
  });

  it('rebuilds the captured REQUESTs, to the DHCP server and to port 4011, byte for byte', () => {
    const ovmf = { mac: '52:54:00:e8:00:02' };
    const ipxe = { mac: '52:54:00:e8:00:01' };
    expect(requestPacket('uefi', ovmf, 0xf66210bd, { address: '10.77.0.196', serverId: '10.77.0.1' })).toEqual(fixtureBytes('ovmf-request'));
    expect(requestPacket('ipxe', ipxe, 0x2ad1e415, { address: '10.77.0.195', serverId: '10.77.0.1' })).toEqual(fixtureBytes('ipxe-request'));
    expect(request4011Packet('uefi', ovmf, 0x0badbdd9, '10.77.0.196')).toEqual(fixtureBytes('ovmf-request-4011'));
    expect(request4011Packet('ipxe', ipxe, 0x1234, '10.77.0.195', 0x8002)).toEqual(fixtureBytes('ipxe-request-4011'));
    expect(request4011Packet('bios', { mac: '52:54:00:e8:00:10' }, 0x5eb10503, '10.77.0.50', 0x8000)).toEqual(fixtureBytes('bios-rom-request-4011'));
  });

  it('changes only chaddr, xid and the client id (61) for another machine', () => {
    const mine = decodeDhcp(discoverPacket('ipxe', { mac: '02:00:00:aa:bb:cc' }, 7));
    const real = fixture('ipxe-discover');
    expect(toHex(mine.chaddr)).toBe('020000aabbcc' + '00'.repeat(10));
    expect(mine.xid).toBe(7);
    expect(toHex(getOption(mine, OPT.clientId)!)).toBe('01020000aabbcc');
    const rest = (p: DhcpPacket) => ({ ...p, xid: 0, chaddr: null, options: p.options.filter((o) => o.code !== OPT.clientId) });
    expect(rest(mine)).toEqual(rest(real));
  });

  it('names the boot server type a proxy offered in the BIOS 4011 request (43.71)', () => {
    const p = decodeDhcp(request4011Packet('bios', { mac: '02:00:00:00:00:01' }, 1, '10.0.0.9', 0x8003));
    expect(toHex(pxeOptions(p)!.get(PXE_SUBOPTIONS.bootItem)!)).toBe('80030000');
    expect(p.ciaddr).toBe('10.0.0.9');
  });

  it('builds a plain DISCOVER without option 60', () => {
    const p = decodeDhcp(discoverPacket('plain', { mac: '02:00:00:00:00:02' }, 9));
    expect(vendorClass(p)).toBeUndefined();
    expect(p.options.map((o) => o.code)).toEqual([OPT.messageType, OPT.clientId, OPT.maxMessageSize, OPT.paramList]);
  });

  it('makes the same malformed series from the same seed, cycling through every fault', () => {
    const valid = discoverPacket('uefi', { mac: '02:00:00:00:00:03' }, 3);
    const take = (seed: number, n: number) => {
      const g = malformedPackets(valid, seed);
      return Array.from({ length: n }, () => g.next().value!);
    };
    const a = take(1, 70);
    expect(take(1, 70)).toEqual(a);
    expect(take(2, 70)).not.toEqual(a);
    expect([a[1]!.length, a[8]!.length, a[15]!.length]).toEqual([0, 1, 2]); // truncations, every length in turn
    for (const i of [4, 5, 6]) expect(() => decodeDhcp(a[i]!), `variant ${i}`).toThrow(DecodeError); // type 0/200, hops 255, op 3
    expect(a[5]![3]).toBe(255);
    expect(a[6]![0]).toBe(3);
  });
});

interface ClientEvent {
  event: string;
  step?: number;
  from?: string;
  port?: number;
  type?: number | null;
  hex?: string;
  address?: string;
  serverId?: string;
  count?: number;
  message?: string;
}

describe('pxe-client against dnsmasq as router (10.88.0.1) and PXE proxy (10.88.0.2)', () => {
  let bed: Testbed;
  let router: Spawned;
  let proxy: Spawned;
  let work: string;
  let clients = 0;

  beforeAll(async () => {
    requireTools(['ip', 'dnsmasq']);
    work = mkdtempSync(join(tmpdir(), 'edgeboot-pxe-client-'));
    bed = await createTestbed('pxeclient');
    await bed.namespace('router');
    await bed.namespace('proxy');
    await bed.lan('lan');
    await bed.attach('router', 'lan', 'eth0', '10.88.0.1/24');
    await bed.attach('proxy', 'lan', 'eth0', '10.88.0.2/24');
    // --pid-file= (empty): no pid file, so two instances never share /run/dnsmasq.pid.
    const common = ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--log-dhcp', '--pid-file='];
    router = bed.spawn('router', 'dnsmasq', [...common, '--no-ping', '--dhcp-range=10.88.0.100,10.88.0.199,255.255.255.0,10m', `--dhcp-leasefile=${work}/router.leases`]);
    // The proxy configuration of fixtures/regenerate.sh.
    proxy = bed.spawn('proxy', 'dnsmasq', [
      ...common,
      '--dhcp-range=10.88.0.0,proxy,255.255.255.0',
      '--dhcp-userclass=set:ipxe,iPXE',
      '--pxe-prompt=edgeboot,0',
      '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly',
      '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
      '--pxe-service=tag:ipxe,x86PC,edgeboot,http://10.88.0.2:8080/boot',
      '--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,http://10.88.0.2:8080/boot',
      `--dhcp-leasefile=${work}/proxy.leases`,
    ]);
    await router.waitForLine(/DHCP, IP range 10\.88\.0\.100/);
    await proxy.waitForLine(/DHCP, proxy on subnet 10\.88\.0\.0/);
  });

  afterAll(async () => {
    await bed?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs the client in a fresh namespace whose eth0 has the client's MAC; returns its events. */
  async function runClient(kind: Kind, steps: Spec['steps']): Promise<{ mac: string; events: ClientEvent[] }> {
    const n = ++clients;
    const mac = `52:54:00:ee:00:${n.toString(16).padStart(2, '0')}`;
    const ns = `client${n}`;
    await bed.namespace(ns);
    await bed.attach(ns, 'lan', 'eth0', undefined, { mac });
    await bed.acceptAnyDestination(ns);
    const r = await bed.run(ns, NODE, [CLIENT, JSON.stringify({ kind, mac, steps })], { timeoutMs: 20_000 });
    const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ClientEvent);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(events.at(-1)).toEqual({ event: 'done' });
    return { mac, events };
  }

  const replies = (events: ClientEvent[], step: number) =>
    events.filter((e) => e.event === 'reply' && e.step === step).map((e) => ({ from: e.from, port: e.port, type: e.type, pkt: decodeDhcp(fromHex(e.hex!)) }));

  for (const kind of ['bios', 'uefi', 'ipxe'] as const) {
    it(`${FIRMWARE[kind]} DISCOVER gets the router's OFFER and the proxy's PXE OFFER`, async () => {
      const { events } = await runClient(kind, [{ do: 'discover', wait: 1000 }]);
      const got = replies(events, 0);
      const fromRouter = got.find((r) => r.from === '10.88.0.1:67');
      const fromProxy = got.find((r) => r.from === '10.88.0.2:67');
      expect(fromRouter?.type).toBe(2);
      expect(fromRouter?.pkt.yiaddr).toMatch(/^10\.88\.0\.1\d\d$/);
      expect(fromProxy?.type).toBe(2);
      expect(fromProxy?.pkt.yiaddr).toBe('0.0.0.0');
      expect(vendorClass(fromProxy!.pkt)).toBe('PXEClient');
    });
  }

  it('an HTTP-boot DISCOVER gets the router’s OFFER only: dnsmasq’s proxy answers PXEClient, not HTTPClient', async () => {
    const { events } = await runClient('http', [{ do: 'discover', wait: 1000 }]);
    expect(replies(events, 0).map((r) => [r.from, r.type])).toEqual([['10.88.0.1:67', 2]]);
  });

  const boots = [
    ['bios', 'undionly.0', 68],
    ['uefi', 'ipxe.efi', 4011],
    ['ipxe', 'http://10.88.0.2:8080/boot', 68],
  ] as const;
  for (const [kind, file, port] of boots) {
    it(`${FIRMWARE[kind]} client leases from the router, then gets ${file} from the proxy's port 4011 on its port ${port}`, async () => {
      const { events } = await runClient(kind, [
        { do: 'dora', wait: 1500 },
        { do: 'assign' },
        { do: 'request4011', server: '10.88.0.2' },
      ]);
      const lease = events.find((e) => e.event === 'lease');
      expect(lease).toMatchObject({ step: 0, serverId: '10.88.0.1' });
      expect(replies(events, 0).some((r) => r.from === '10.88.0.1:67' && r.type === 5)).toBe(true);
      const [ack] = replies(events, 2);
      expect(ack).toMatchObject({ from: '10.88.0.2:4011', port, type: 5 });
      expect(ack!.pkt.file).toBe(file);
      expect(serverId(ack!.pkt)).toBe('10.88.0.2');
      // dnsmasq echoes the address in ciaddr and leaves yiaddr 0.0.0.0 for OVMF (as in the capture), in yiaddr for the others.
      expect([ack!.pkt.yiaddr, ack!.pkt.ciaddr]).toContain(lease!.address);
    });
  }

  it('a plain client renews, reboots, informs, releases and declines against the router', async () => {
    const { mac, events } = await runClient('plain', [
      { do: 'dora', wait: 1500 },
      { do: 'assign' },
      { do: 'renew', wait: 1500 },
      { do: 'request', serverId: null, wait: 1500 },
      { do: 'inform', to: '10.88.0.1', wait: 1500 },
      { do: 'release', wait: 0 },
      { do: 'dora', wait: 1500 },
      { do: 'decline', wait: 0 },
    ]);
    const leases = events.filter((e) => e.event === 'lease');
    expect(leases.map((e) => e.step)).toEqual([0, 2, 3, 6]);
    expect(replies(events, 4).map((r) => r.type)).toEqual([5]); // ACK to the INFORM
    await router.waitForLine((l) => l.includes(`DHCPRELEASE(eth0) ${leases[0]!.address} ${mac}`), 5000);
    await router.waitForLine((l) => l.includes(`DHCPDECLINE(eth0) ${leases[3]!.address} ${mac}`), 5000);
  });

  it('floods both servers with malformed packets, which they survive', async () => {
    const { events } = await runClient('bios', [
      { do: 'dora', wait: 1500 },
      { do: 'assign' },
      { do: 'flood', count: 300, to: '255.255.255.255', port: 67, seed: 1, wait: 200 },
      { do: 'flood', count: 300, to: '10.88.0.2', port: 4011, seed: 2, wait: 200 },
      { do: 'discover', wait: 1000 },
    ]);
    expect(events.filter((e) => e.event === 'sent').map((e) => e.count)).toEqual([300, 300]);
    expect(replies(events, 4).map((r) => r.from).sort()).toEqual(['10.88.0.1:67', '10.88.0.2:67']);
    expect(router.child.exitCode).toBeNull();
    expect(proxy.child.exitCode).toBeNull();
  });
});
