import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp, encodeDhcp, getOption, type DhcpPacket } from '../../relay/src/dhcp/codec.ts';
import { OPT } from '../../relay/src/dhcp/options.ts';
import { fromHex, serverId, toHex } from '../../relay/src/dhcp/read.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import { fixture } from './dhcp/fixtures.ts';
import { cloudBridge, type CloudBridge, pxeClient, startForwarder, startRelayInNs, type RelayInNs } from './support/lan.ts';
import { until } from './support/relay-harness.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

/**
 * One relay serving several LANs of a branch office, as a real box is wired (network namespaces, the
 * real `edgeboot-relay run` process, the scripted PXE client, ISC's dhcrelay as the router's relay
 * agent, dnsmasq as the site's DHCP server behind it):
 *
 *   uplink 10.60.0.0/24   relay eth0 .2 (not served) · router .1 · site DHCP server .3 · a stray client
 *   LAN A  10.61.0.0/24   relay eth1 .2, full DHCP mode, router advertisements (radvd) on
 *   "VLAN" on a trunk     relay trunk.20 10.62.0.2, a child interface of `trunk`, proxy mode
 *   LAN C  10.63.0.0/24   behind the router: dhcrelay → the site DHCP server and the relay (proxy mode)
 *
 * The relay's box has no default route and no route for 255.255.255.255: every broadcast reply
 * leaves by the socket bound to its LAN's interface.
 *
 * Test double, named: the kernels this suite runs on are built without 802.1Q (CONFIG_VLAN_8021Q is
 * not set: `ip link add … type vlan` fails with "Unknown device type"), so `trunk.20` is a macvlan
 * child of `trunk` standing in for a VLAN interface. The relay does nothing VLAN-specific — it binds a
 * socket to an interface by name — so what is tested (a stacked interface served beside its parent's
 * LAN, deleted and made again while the relay runs) is the same; the tagging itself is not.
 */
requireTools(['dnsmasq', 'dhcrelay', 'curl', 'perl', 'radvd', 'rdisc6']);

const RELAY = { up: '10.60.0.2', a: '10.61.0.2', vlan: '10.62.0.2' };
let bed: Testbed;
let cloud: TestCloud;
let bridge: CloudBridge;
let creds: Credentials;
let relay: RelayInNs;
let macs: string[];
let kernelId: string;

type Line = Record<string, unknown>;
const replies = (lines: Line[]) => lines.filter((l) => l.event === 'reply' && !l.error).map((l) => ({ from: String(l.from), pkt: decodeDhcp(fromHex(l.hex as string)) as DhcpPacket }));
const bootFile = (p: DhcpPacket) => p.file || new TextDecoder().decode(getOption(p, OPT.bootFileName) ?? new Uint8Array());
const metric = async (name: string, label: string) => {
  const m = await bed.run('a', 'curl', ['-sS', `http://${RELAY.a}:8080/metrics`]);
  const line = m.stdout.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

/** `trunk.20` on the relay's `trunk` (see the test double above), with the relay's address there. */
async function addChild(): Promise<void> {
  for (const args of [['link', 'add', 'trunk.20', 'link', 'trunk', 'type', 'macvlan', 'mode', 'bridge'], ['addr', 'add', `${RELAY.vlan}/24`, 'dev', 'trunk.20'], ['link', 'set', 'trunk.20', 'up']]) {
    const r = await bed.run('relay', 'ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
}

beforeAll(async () => {
  cloud = await startTestCloud();
  const site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
  kernelId = (await uploadImage(cloud, randomBytesOf(64 * 1024))).id;
  macs = [];
  for (let i = 0; i < 6; i++) macs.push((await bootableMachine(cloud, site, [kernelId])).mac);

  const work = mkdtempSync(join(tmpdir(), 'edgeboot-multi-'));
  bridge = await cloudBridge(cloud, join(work, 'cloud.sock'));
  bed = await createTestbed('lanmulti');
  for (const n of ['relay', 'router', 'dhcpsrv', 'stray', 'a', 'vlan', 'c']) await bed.namespace(n);
  for (const l of ['up', 'lana', 'trunk', 'lanc']) await bed.lan(l);
  await bed.attach('relay', 'up', 'eth0', `${RELAY.up}/24`, { broadcastRoute: false });
  await bed.attach('relay', 'lana', 'eth1', `${RELAY.a}/24`, { broadcastRoute: false });
  await bed.attach('relay', 'trunk', 'trunk', undefined, { broadcastRoute: false });
  await addChild();
  // Answers to the agent go to giaddr, on the far side of the router: a unicast route, as any site has.
  await bed.run('relay', 'ip', ['route', 'add', '10.63.0.0/24', 'via', '10.60.0.1']);
  await bed.attach('router', 'up', 'up0', '10.60.0.1/24');
  await bed.attach('router', 'lanc', 'c0', '10.63.0.1/24');
  await bed.run('router', 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  await bed.attach('dhcpsrv', 'up', 'eth0', '10.60.0.3/24');
  await bed.run('dhcpsrv', 'ip', ['route', 'add', '10.63.0.0/24', 'via', '10.60.0.1']);
  await bed.attach('stray', 'up', 'eth0', '10.60.0.50/24');
  await bed.attach('a', 'lana', 'eth0', '10.61.0.50/24', { mac: macs[0] });
  await bed.attach('vlan', 'trunk', 'eth0', '10.62.0.50/24', { mac: macs[1] });
  await bed.attach('c', 'lanc', 'eth0');

  // The site's DHCP server gives LAN C its addresses; the router relays to it and to the relay (two helper addresses).
  const srv = bed.spawn('dhcpsrv', 'dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--no-ping', '--log-dhcp', '--dhcp-range=10.63.0.100,10.63.0.150,255.255.255.0,10m', '--dhcp-option=3,10.63.0.1', `--dhcp-leasefile=${join(work, 'srv.leases')}`]);
  await srv.waitForLine(/DHCP, IP range/, 10_000);
  const agent = bed.spawn('router', 'dhcrelay', ['-4', '-d', '-id', 'c0', '-iu', 'up0', '10.60.0.3', RELAY.up]);
  await agent.waitForLine(/Listening on|Sending on/, 10_000).catch(() => undefined);

  await startForwarder(bed, 'relay', join(work, 'cloud.sock'));
  relay = await startRelayInNs(bed, 'relay', {
    creds,
    stateDir: join(work, 'relay'),
    toml: [
      'boot_files = "/usr/lib/ipxe"',
      '[http]', 'port = 8080', `public_url = "http://${RELAY.up}:8080"`, '[sync]', 'wait_seconds = 5',
      '[[lan]]', 'interface = "eth1"', 'mode = "dhcp"', 'range = ["10.61.0.100", "10.61.0.150"]', 'lease_seconds = 600', 'ra = true',
      '[[lan]]', 'interface = "trunk.20"', 'mode = "proxy"',
      '[[lan]]', 'relayed = "10.63.0.0/24"', 'mode = "proxy"', `address = "${RELAY.up}"`,
      '',
    ].join('\n'),
  });
}, 120_000);

afterAll(async () => {
  await bed?.cleanup();
  bridge?.close();
  await cloud?.close();
});

describe('one relay, several LANs (network namespaces, no route for broadcasts)', () => {
  it('binds a socket to each served interface, and the box has no route for its broadcasts', async () => {
    const listening = relay.logs().findLast((l) => l.msg === 'dhcp listening') as { lans: Array<{ name: string; socket: string }> };
    expect(listening.lans.map((l) => [l.name, l.socket])).toEqual([
      ['eth1', 'bound to the interface'],
      ['trunk.20', 'bound to the interface'],
      ['relayed:10.63.0.0/24', 'relayed'],
    ]);
    const routes = await bed.run('relay', 'ip', ['route', 'show', 'table', 'all']);
    expect(routes.stdout).not.toMatch(/^default|^255\.255\.255\.255/m);
  });

  it('gives a client on a full-mode LAN an address and a script URL of that LAN', async () => {
    const lines = await pxeClient(bed, 'a', { kind: 'ipxe', mac: macs[0]!, steps: [{ do: 'dora', wait: 2000 }] });
    const lease = lines.find((l) => l.event === 'lease');
    expect(lease, JSON.stringify(lines)).toMatchObject({ serverId: RELAY.a });
    expect(String(lease!.address)).toMatch(/^10\.61\.0\.1([0-4]\d|50)$/);
    const ack = replies(lines).at(-1)!.pkt;
    expect(bootFile(ack)).toMatch(new RegExp(`^http://${RELAY.a}:8080/boot\\?`));
  });

  it('answers a client on a stacked (VLAN-style) interface with that LAN\'s address and URL, and its script points there', async () => {
    const lines = await pxeClient(bed, 'vlan', { kind: 'ipxe', mac: macs[1]!, steps: [{ do: 'discover', wait: 1500 }] });
    const offers = replies(lines);
    expect(offers.map((r) => r.from)).toEqual([`${RELAY.vlan}:67`]);
    const offer = offers[0]!.pkt;
    expect(serverId(offer)).toBe(RELAY.vlan);
    const url = bootFile(offer).replace('${uuid}', '');
    expect(url).toMatch(new RegExp(`^http://${RELAY.vlan}:8080/boot\\?`));
    const script = await bed.run('vlan', 'curl', ['-sS', '--fail', url]);
    expect(script.stdout, script.stderr).toContain(`http://${RELAY.vlan}:8080/files/${kernelId}/`);
  });

  it('answers a segment behind a relay agent in proxy mode, back through the agent with the broadcast flag set', async () => {
    const lines = await pxeClient(bed, 'c', { kind: 'uefi', mac: macs[2]!, steps: [{ do: 'discover', wait: 2500 }] });
    const got = replies(lines);
    // The site server's offer (an address) and the relay's proxy offer, both delivered by the agent.
    expect(got.some((r) => r.pkt.yiaddr.startsWith('10.63.0.'))).toBe(true);
    const proxy = got.find((r) => serverId(r.pkt) === RELAY.up);
    expect(proxy, JSON.stringify(lines)).toBeDefined();
    expect(proxy!.from).toBe('10.63.0.1:67');
    expect(proxy!.pkt.yiaddr).toBe('0.0.0.0');
    expect(proxy!.pkt.flags & 0x8000).toBe(0x8000);
    expect(proxy!.pkt.siaddr).toBe(RELAY.up);
    expect(bootFile(proxy!.pkt)).toBe('ipxe.efi');
  });

  it('advertises a router that configures nothing on the LAN that asks for it (ra = true), and only there', async () => {
    // rdisc6 solicits and decodes the answer: radvd, configured and supervised by the relay.
    const heard = await bed.run('a', 'rdisc6', ['-1', '-w', '1000', '-r', '15', 'eth0'], { timeoutMs: 25_000 });
    expect(heard.code, heard.stdout + heard.stderr).toBe(0);
    expect(heard.stdout).toMatch(/^\s*Stateful address conf\.\s*:\s*No$/m);
    expect(heard.stdout).toMatch(/^\s*Stateful other conf\.\s*:\s*No$/m);
    expect(heard.stdout).toMatch(/^\s*Router lifetime\s*:\s*0 /m);
    expect(heard.stdout).not.toMatch(/^\s*Prefix\s*:/m);
    const elsewhere = await bed.run('vlan', 'rdisc6', ['-1', '-w', '500', '-r', '3', 'eth0'], { timeoutMs: 10_000 });
    expect(elsewhere.code).not.toBe(0);
  });

  it('stays silent on an interface it does not serve, and counts it', async () => {
    const before = await metric('edgeboot_relay_dhcp_drops', 'reason="unserved-interface"');
    const lines = await pxeClient(bed, 'stray', { kind: 'uefi', mac: macs[3]!, steps: [{ do: 'discover', wait: 1500 }] });
    expect(replies(lines)).toEqual([]);
    expect(await metric('edgeboot_relay_dhcp_drops', 'reason="unserved-interface"')).toBeGreaterThan(before);
  });

  it('drops forged relay-agent fields with a counted reason, and answers the next honest client', async () => {
    const base = fixture('ipxe-discover');
    const forged = (p: Partial<DhcpPacket>) => toHex(encodeDhcp({ ...base, chaddr: base.chaddr.slice(), ...p }));
    const agentInfo = { code: OPT.relayAgentInfo, data: Uint8Array.of(1, 4, 0x76, 0x6c, 0x32, 0x30) };
    const cases = [
      ['agent-unknown', forged({ giaddr: '10.99.0.1', hops: 1 })],
      ['agent-forged', forged({ giaddr: RELAY.a, hops: 1 })],
      ['agent-hops', forged({ giaddr: '10.63.0.1', hops: 12 })],
      ['agent-option-unrelayed', forged({ options: [...base.options.filter((o) => o.code !== 255), agentInfo] })],
    ] as const;
    const before = await Promise.all(cases.map(([r]) => metric('edgeboot_relay_dhcp_drops', `reason="${r}"`)));
    const lines = await pxeClient(bed, 'a', { kind: 'ipxe', mac: macs[4]!, steps: [...cases.map(([, hex]) => ({ do: 'raw', hex, to: RELAY.a, wait: 300 })), { do: 'discover', wait: 1500 }] });
    // Nothing for the forged packets (steps 0–3), an offer for the honest DISCOVER (step 4).
    expect(lines.filter((l) => l.event === 'reply' && (l.step as number) < cases.length)).toEqual([]);
    expect(lines.some((l) => l.event === 'reply' && l.step === cases.length)).toBe(true);
    for (const [i, [reason]] of cases.entries()) expect(await metric('edgeboot_relay_dhcp_drops', `reason="${reason}"`), reason).toBeGreaterThan(before[i]!);
    expect(relay.process.child.exitCode).toBeNull();
  });

  it('keeps serving its other LANs while a VLAN is gone, and binds it again when it comes back', async () => {
    await bed.run('relay', 'ip', ['link', 'del', 'trunk.20']);
    await relay.waitForLog('a served interface disappeared: its LAN gets no answers until it is back', 15_000);
    const onA = await pxeClient(bed, 'a', { kind: 'ipxe', mac: macs[5]!, steps: [{ do: 'discover', wait: 1500 }] });
    expect(replies(onA).map((r) => r.from)).toContain(`${RELAY.a}:67`);
    const silent = await pxeClient(bed, 'vlan', { kind: 'ipxe', mac: macs[1]!, steps: [{ do: 'discover', wait: 1000 }] });
    expect(replies(silent)).toEqual([]);

    const listening = relay.logs().filter((l) => l.msg === 'dhcp listening').length;
    await addChild();
    await until('the relay listening again', () => relay.logs().filter((l) => l.msg === 'dhcp listening').length > listening, 30_000);
    const back = await pxeClient(bed, 'vlan', { kind: 'ipxe', mac: macs[1]!, steps: [{ do: 'discover', wait: 1500 }] });
    expect(replies(back).map((r) => r.from)).toEqual([`${RELAY.vlan}:67`]);
  }, 90_000);
});


