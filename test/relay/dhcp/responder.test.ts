import { describe, expect, it } from 'vitest';
import { bootTarget, DEFAULT_BOOT_FILES, type TargetResult } from '../../../relay/src/dhcp/boot-target.ts';
import { encodeDhcp, getOption, ipBytes, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { ipToInt, parseCidr } from '../../../relay/src/dhcp/ipv4.ts';
import { LeaseTable } from '../../../relay/src/dhcp/leases.ts';
import { MESSAGE_TYPES, OPT } from '../../../relay/src/dhcp/options.ts';
import { messageType, toHex } from '../../../relay/src/dhcp/read.ts';
import type { PxeClient } from '../../../relay/src/dhcp/reply.ts';
import { createResponder, type Arrival, type Outcome } from '../../../relay/src/dhcp/responder.ts';
import { fixture } from './fixtures.ts';

/** The captured clients were on 10.77.0.0/24 with dnsmasq's proxy at 10.77.0.2 (fixtures/regenerate.sh). */
const SERVER = '10.77.0.2';
const BCAST: Arrival = { port: 'dhcp', from: { address: '0.0.0.0', port: 68 } };
const at4011 = (address: string, port = 4011): Arrival => ({ port: 'proxy', from: { address, port } });

function setup(mode: 'proxy' | 'dhcp', o: { netboot?: (c: PxeClient) => boolean; range?: [string, string] } = {}) {
  const learned: Array<[string, string]> = [];
  const asked: Array<{ mac: string; ip: string | null }> = [];
  const target = (c: PxeClient, ip: string | null): TargetResult => {
    asked.push({ mac: c.mac, ip });
    if (o.netboot && !o.netboot(c)) return { ok: false, reason: 'the site snapshot says this machine boots from its disk' };
    return bootTarget(c, { httpBase: `http://${SERVER}:8080`, bootFiles: DEFAULT_BOOT_FILES }, c.kind === 'ipxe' ? 'NONCE' : undefined);
  };
  const table = new LeaseTable({ first: (o.range ?? ['10.77.0.100', '10.77.0.199'])[0], last: (o.range ?? ['10.77.0.100', '10.77.0.199'])[1] });
  const respond = createResponder({
    mode,
    reply: { serverIp: SERVER, menuText: 'edgeboot' },
    target,
    learn: (mac, ip) => learned.push([mac, ip]),
    ...(mode === 'dhcp' ? { full: { table, subnet: parseCidr('10.77.0.0/24'), leaseSeconds: 600, subnetMask: '255.255.255.0', routers: ['10.77.0.1'], dnsServers: [] } } : {}),
  });
  return { respond, learned, asked, table };
}

const type = (o: Outcome) => (o.answer ? messageType(o.answer.packet) : null);
const withOptions = (p: DhcpPacket, replace: Record<number, Uint8Array | null>, fields: Partial<DhcpPacket> = {}): DhcpPacket => ({
  ...p,
  ...fields,
  options: [...p.options.filter((x) => !(x.code in replace)), ...Object.entries(replace).flatMap(([code, data]) => (data ? [{ code: Number(code), data }] : []))],
});
const msg = (t: number) => Uint8Array.of(t);
const plainClient = (mac: number, t: number = MESSAGE_TYPES.DISCOVER): DhcpPacket =>
  withOptions(fixture('ovmf-discover'), { [OPT.messageType]: msg(t), [OPT.vendorClass]: null, [OPT.clientArch]: null, [OPT.clientGuid]: null, [OPT.clientNdi]: null }, { chaddr: Uint8Array.of(2, 0, 0, 0, 0, mac, ...new Array(10).fill(0)) });

describe('responder, proxy mode', () => {
  it('offers OVMF ipxe.efi, iPXE its script URL and a BIOS ROM the boot menu on port 67', async () => {
    const { respond } = setup('proxy');
    const ovmf = await respond(fixture('ovmf-discover'), BCAST);
    expect(type(ovmf)).toBe(MESSAGE_TYPES.OFFER);
    expect(ovmf.answer!.packet.file).toBe('ipxe.efi');
    expect(toHex(getOption(ovmf.answer!.packet, OPT.vendorEncap)!)).toBe('060108ff');
    expect(ovmf.answer!.packet.yiaddr).toBe('0.0.0.0');
    expect(ovmf.event).toMatchObject({ stage: 'proxy-offer', detail: { kind: 'firmware', boot: 'tftp:ipxe.efi' } });
    const ipxe = await respond(fixture('ipxe-discover'), BCAST);
    expect(ipxe.answer!.packet.file).toMatch(/^http:\/\/10\.77\.0\.2:8080\/boot\?mac=52-54-00-e8-00-01&nonce=NONCE&arch=0/);
    const bios = await respond(fixture('bios-rom-discover'), BCAST);
    expect(getOption(bios.answer!.packet, OPT.vendorEncap)).toBeDefined();
  });

  it('ACKs a REQUEST on port 4011 back to the port it came from', async () => {
    const { respond, asked } = setup('proxy');
    const out = await respond(fixture('ovmf-request-4011'), at4011('10.77.0.120'));
    expect(type(out)).toBe(MESSAGE_TYPES.ACK);
    expect(out.answer!.to).toEqual({ address: '10.77.0.120', port: 4011 });
    expect(asked.at(-1)!.ip).toBe(fixture('ovmf-request-4011').ciaddr === '0.0.0.0' ? null : fixture('ovmf-request-4011').ciaddr);
  });

  it("never answers a REQUEST on port 67 (it is the router's), but learns the address it names", async () => {
    const { respond, learned } = setup('proxy');
    const out = await respond(fixture('ovmf-request'), BCAST);
    expect(out).toMatchObject({ answer: null, reason: 'router-request', event: { mac: '52:54:00:e8:00:02', stage: 'dhcp-request', detail: { kind: 'firmware' } } });
    expect(learned).toHaveLength(1);
    expect(learned[0]![0]).toBe('52:54:00:e8:00:02');
  });

  it('stays silent for machines the snapshot sends to their disk, and says why in an event', async () => {
    const { respond } = setup('proxy', { netboot: () => false });
    const out = await respond(fixture('ovmf-discover'), BCAST);
    expect(out).toMatchObject({ answer: null, reason: 'no-boot', event: { stage: 'dhcp-discover', detail: { answered: false } } });
  });

  it('stays silent for non-PXE clients, BOOTREPLYs, BOOTP and other message types', async () => {
    const { respond } = setup('proxy');
    expect(await respond(plainClient(1), BCAST)).toMatchObject({ answer: null, reason: 'not-pxe' });
    expect(await respond(fixture('router-offer-to-ovmf'), BCAST)).toMatchObject({ answer: null, reason: 'not-request' });
    expect(await respond(withOptions(fixture('ovmf-discover'), { [OPT.messageType]: null }), BCAST)).toMatchObject({ answer: null, reason: 'bootp' });
    expect(await respond(withOptions(fixture('ovmf-discover'), { [OPT.messageType]: msg(MESSAGE_TYPES.RELEASE) }), BCAST)).toMatchObject({ answer: null, reason: 'unexpected-type' });
    expect(await respond(fixture('ovmf-discover'), at4011('10.77.0.120'))).toMatchObject({ answer: null, reason: 'unexpected-type' });
  });

  it('answers a relayed DISCOVER to the relay agent on port 67', async () => {
    const { respond } = setup('proxy');
    const out = await respond({ ...fixture('ovmf-discover'), giaddr: '10.9.0.1', hops: 1 }, { port: 'dhcp', from: { address: '10.9.0.1', port: 67 } });
    expect(out.answer!.to).toEqual({ address: '10.9.0.1', port: 67 });
  });
});

describe('responder, full mode', () => {
  const request = (p: DhcpPacket, ip: string, serverId: string | null) =>
    withOptions(p, { [OPT.messageType]: msg(MESSAGE_TYPES.REQUEST), [OPT.requestedAddress]: ipBytes(ip), [OPT.serverId]: serverId ? ipBytes(serverId) : null });

  it('leases an address to a plain client without boot instructions (DORA)', async () => {
    const { respond } = setup('dhcp');
    const offer = await respond(plainClient(1), BCAST);
    expect(type(offer)).toBe(MESSAGE_TYPES.OFFER);
    const ip = offer.answer!.packet.yiaddr;
    expect(ip).toBe('10.77.0.100');
    expect(offer.answer!.packet.file).toBe('');
    expect(toHex(getOption(offer.answer!.packet, OPT.routers)!)).toBe('0a4d0001');
    expect(offer.event).toBeUndefined();
    const ack = await respond(request(plainClient(1), ip, SERVER), BCAST);
    expect(type(ack)).toBe(MESSAGE_TYPES.ACK);
    expect(ack.answer!.packet.yiaddr).toBe(ip);
  });

  it('leases an address and the boot file to PXE firmware, and binds the nonce to the address for iPXE', async () => {
    const { respond, asked } = setup('dhcp');
    const offer = await respond(fixture('ovmf-discover'), BCAST);
    expect(offer.answer!.packet.file).toBe('ipxe.efi');
    expect(offer.answer!.packet.siaddr).toBe(SERVER);
    expect(offer.event).toMatchObject({ stage: 'dhcp-offer', detail: { ip: offer.answer!.packet.yiaddr } });
    await respond(fixture('ipxe-discover'), BCAST);
    expect(asked.at(-1)).toEqual({ mac: '52:54:00:e8:00:01', ip: '10.77.0.101' });
  });

  it('forgets its offer when the client takes another server, and NAKs addresses it cannot give', async () => {
    const { respond, table } = setup('dhcp', { range: ['10.77.0.100', '10.77.0.100'] });
    await respond(plainClient(1), BCAST);
    expect(await respond(request(plainClient(1), '10.77.0.100', '10.77.0.1'), BCAST)).toMatchObject({ answer: null, reason: 'other-server' });
    expect(table.offer('02:00:00:00:00:09')).toBe('10.77.0.100');
    const nak = await respond(request(plainClient(1), '10.77.0.100', SERVER), BCAST);
    expect(type(nak)).toBe(MESSAGE_TYPES.NAK);
    expect(type(await respond(request(plainClient(2), '192.168.1.5', null), BCAST))).toBe(MESSAGE_TYPES.NAK);
  });

  it('does not answer a DISCOVER when the pool is exhausted, and serves again after a RELEASE', async () => {
    const { respond } = setup('dhcp', { range: ['10.77.0.100', '10.77.0.100'] });
    const ip = (await respond(plainClient(1), BCAST)).answer!.packet.yiaddr;
    await respond(request(plainClient(1), ip, SERVER), BCAST);
    expect(await respond(plainClient(2), BCAST)).toMatchObject({ answer: null, reason: 'pool-exhausted' });
    const release = withOptions(plainClient(1, MESSAGE_TYPES.RELEASE), { [OPT.serverId]: ipBytes(SERVER) }, { ciaddr: ip });
    expect(await respond(release, BCAST)).toMatchObject({ answer: null, reason: 'released' });
    expect(type(await respond(plainClient(2), BCAST))).toBe(MESSAGE_TYPES.OFFER);
  });

  it('quarantines a DECLINEd address', async () => {
    const { respond } = setup('dhcp', { range: ['10.77.0.100', '10.77.0.101'] });
    const ip = (await respond(plainClient(1), BCAST)).answer!.packet.yiaddr;
    await respond(request(plainClient(1), ip, SERVER), BCAST);
    const decline = withOptions(plainClient(1, MESSAGE_TYPES.DECLINE), { [OPT.requestedAddress]: ipBytes(ip), [OPT.serverId]: ipBytes(SERVER) });
    expect(await respond(decline, BCAST)).toMatchObject({ answer: null, reason: 'declined' });
    expect((await respond(plainClient(1), BCAST)).answer!.packet.yiaddr).toBe('10.77.0.101');
  });

  it('renews a bound lease unicast (ciaddr, no server id) and NAKs a renewal of an unknown one', async () => {
    const { respond } = setup('dhcp');
    const ip = (await respond(plainClient(1), BCAST)).answer!.packet.yiaddr;
    await respond(request(plainClient(1), ip, SERVER), BCAST);
    const renew = withOptions(plainClient(1, MESSAGE_TYPES.REQUEST), {}, { ciaddr: ip });
    const ack = await respond(renew, { port: 'dhcp', from: { address: ip, port: 68 } });
    expect(type(ack)).toBe(MESSAGE_TYPES.ACK);
    expect(ack.answer!.to).toEqual({ address: ip, port: 68 });
    expect(type(await respond(withOptions(plainClient(2, MESSAGE_TYPES.REQUEST), {}, { ciaddr: ip }), BCAST))).toBe(MESSAGE_TYPES.NAK);
  });

  it("stays silent for a rebooting client's address of this network outside its range (a sibling relay's pool), and NAKs it when named as server", async () => {
    const { respond } = setup('dhcp', { range: ['10.77.0.100', '10.77.0.149'] });
    // RFC 2131 §4.3.2: INIT-REBOOT (no server id) for an address this server has no record of.
    expect(await respond(request(plainClient(1), '10.77.0.160', null), BCAST)).toMatchObject({ answer: null, reason: 'other-server' });
    expect(type(await respond(request(plainClient(1), '10.77.0.160', SERVER), BCAST))).toBe(MESSAGE_TYPES.NAK);
    expect(type(await respond(request(plainClient(1), '10.77.0.120', null), BCAST))).toBe(MESSAGE_TYPES.ACK);
  });

  it('answers INFORM with configuration and no lease', async () => {
    const { respond } = setup('dhcp');
    const out = await respond(withOptions(plainClient(3, MESSAGE_TYPES.INFORM), {}, { ciaddr: '10.77.0.50' }), { port: 'dhcp', from: { address: '10.77.0.50', port: 68 } });
    expect(type(out)).toBe(MESSAGE_TYPES.ACK);
    expect(out.answer!.packet.yiaddr).toBe('0.0.0.0');
    expect(getOption(out.answer!.packet, OPT.leaseTime)).toBeUndefined();
  });

  it('serves relay agents from the served subnet and ignores relays from elsewhere', async () => {
    const { respond } = setup('dhcp');
    const ok = await respond({ ...plainClient(4), giaddr: '10.77.0.254', hops: 1 }, { port: 'dhcp', from: { address: '10.77.0.254', port: 67 } });
    expect(ok.answer!.to).toEqual({ address: '10.77.0.254', port: 67 });
    expect(await respond({ ...plainClient(5), giaddr: '10.9.0.1', hops: 1 }, BCAST)).toMatchObject({ answer: null, reason: 'other-subnet' });
  });

  it('every reply it builds encodes to a valid packet of at least 300 bytes', async () => {
    const { respond } = setup('dhcp');
    for (const p of [fixture('ovmf-discover'), fixture('ipxe-discover'), fixture('bios-rom-discover'), fixture('ovmf-http-discover'), plainClient(7)]) {
      const out = await respond(p, BCAST);
      expect(out.answer!.bytes.length).toBeGreaterThanOrEqual(300);
      expect(encodeDhcp(out.answer!.packet).length).toBe(out.answer!.bytes.length);
    }
    expect(ipToInt('10.77.0.2')).toBe(0x0a4d0002);
  });
});
