import { describe, expect, it } from 'vitest';
import { bootTarget, DEFAULT_BOOT_FILES, scriptUrl, type BootTarget, type TargetContext } from '../../../relay/src/dhcp/boot-target.ts';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import { decodeDhcp, getOption, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { OPT } from '../../../relay/src/dhcp/options.ts';
import { fullReply, informAck, nak, proxyAck, proxyOffer, type PxeClient, type ReplyContext } from '../../../relay/src/dhcp/reply.ts';
import { ipxeOptions, toHex } from '../../../relay/src/dhcp/read.ts';
import { fixture } from './fixtures.ts';
import { expectSameAsDnsmasq } from './same-as-dnsmasq.ts';

/** The same setting dnsmasq ran with in fixtures/regenerate.sh: proxy at 10.77.0.2, menu text `edgeboot`. */
const ctx: ReplyContext = { serverIp: '10.77.0.2', menuText: 'edgeboot' };
const targets: TargetContext = { httpBase: 'http://10.77.0.2:8080', bootFiles: DEFAULT_BOOT_FILES };
const NONCE = 'n0nce-AAAAAAAAAAAAAAAA';

function pxe(req: DhcpPacket): PxeClient {
  const c = classify(req);
  if (!c.pxe) throw new Error(c.reason);
  return c;
}
function target(req: DhcpPacket, t: TargetContext = targets): BootTarget {
  const r = bootTarget(pxe(req), t, NONCE);
  if (!r.ok) throw new Error(r.reason);
  return r.target;
}
const hex = (p: DhcpPacket, code: number) => {
  const v = getOption(p, code);
  return v && toHex(v);
};
const text = (p: DhcpPacket, code: number) => {
  const v = getOption(p, code);
  return v && new TextDecoder().decode(v);
};

describe('proxy replies, compared with dnsmasq', () => {
  it('offers a BIOS PXE ROM the same menu and boot server as dnsmasq (43.6/8/9/10)', () => {
    const req = fixture('bios-rom-discover');
    const r = proxyOffer(req, pxe(req), target(req), ctx);
    expectSameAsDnsmasq(r.packet, fixture('dnsmasq-proxy-offer-to-bios-rom'), { option43: true });
    expect(r.packet.file).toBe('');
    expect(r.to).toEqual({ address: '255.255.255.255', port: 68 });
  });

  it("ACKs the BIOS ROM's 4011 menu choice like dnsmasq, with undionly.kpxe", () => {
    const req = fixture('bios-rom-request-4011');
    const r = proxyAck(req, pxe(req), target(req), ctx, { address: '10.77.0.50', port: 68 });
    expectSameAsDnsmasq(r.packet, fixture('dnsmasq-proxy-ack-4011-to-bios-rom'), { option43: true });
    expect(r.packet.file).toBe('undionly.kpxe');
    expect(r.to).toEqual({ address: '10.77.0.50', port: 68 });
  });

  it('offers OVMF what dnsmasq offers (siaddr = relay), plus ipxe.efi in file and 43.6 "use this boot file"', () => {
    const req = fixture('ovmf-discover');
    const r = proxyOffer(req, pxe(req), target(req), ctx);
    expectSameAsDnsmasq(r.packet, fixture('dnsmasq-proxy-offer-to-ovmf'), { option43: false });
    expect(r.packet.file).toBe('ipxe.efi');
    // Discovery control bit 3: EDK2 boots the file in this offer instead of asking on 4011 (1 s saved).
    expect(hex(r.packet, OPT.vendorEncap)).toBe('060108ff');
  });

  it("ACKs OVMF's 4011 REQUEST like dnsmasq, to OVMF's port 4011", () => {
    const req = fixture('ovmf-request-4011');
    const theirs = fixture('dnsmasq-proxy-ack-4011-to-ovmf');
    const r = proxyAck(req, pxe(req), target(req), ctx, { address: '10.77.0.196', port: 4011 });
    expectSameAsDnsmasq(r.packet, theirs, { option43: true });
    expect([r.packet.file, r.packet.sname]).toEqual([theirs.file, theirs.sname]);
    expect(r.to).toEqual({ address: '10.77.0.196', port: 4011 });
  });

  it('offers iPXE its script URL and next-server where dnsmasq offers a menu (no 4011 round trip needed)', () => {
    const req = fixture('ipxe-discover');
    const r = proxyOffer(req, pxe(req), target(req), ctx);
    expectSameAsDnsmasq(r.packet, fixture('dnsmasq-proxy-offer-to-ipxe'), { option43: false, siaddr: false });
    // siaddr set: this iPXE takes an offer's boot file only with it, else it asks on 4011.
    expect(r.packet.siaddr).toBe('10.77.0.2');
    const url = 'http://10.77.0.2:8080/boot?mac=52-54-00-e8-00-01&nonce=n0nce-AAAAAAAAAAAAAAAA&arch=0&uuid=${uuid}';
    expect(r.packet.file).toBe(url);
    expect(text(r.packet, OPT.bootFileName)).toBe(url);
    expect(getOption(r.packet, OPT.vendorEncap)).toBeUndefined();
    expect(getOption(r.packet, OPT.ipxeEncap)).toBeUndefined();
  });

  it("ACKs iPXE's 4011 REQUEST like dnsmasq (item echoed, address moved to yiaddr), with the script URL", () => {
    const req = fixture('ipxe-request-4011');
    const r = proxyAck(req, pxe(req), target(req), ctx, { address: '10.77.0.195', port: 68 });
    expectSameAsDnsmasq(r.packet, fixture('dnsmasq-proxy-ack-4011-to-ipxe'), { option43: true });
    expect(r.packet.file).toMatch(/^http:\/\/10\.77\.0\.2:8080\/boot\?mac=52-54-00-e8-00-01&nonce=/);
  });

  it('offers UEFI HTTP boot an http:// URL with HTTPClient, which dnsmasq ignores', () => {
    const req = fixture('ovmf-http-discover');
    const r = proxyOffer(req, pxe(req), target(req), ctx);
    expect(text(r.packet, OPT.vendorClass)).toBe('HTTPClient');
    expect(r.packet.file).toBe('http://10.77.0.2:8080/ipxe/ipxe.efi');
    expect(text(r.packet, OPT.bootFileName)).toBe('http://10.77.0.2:8080/ipxe/ipxe.efi');
    expect(r.packet.yiaddr).toBe('0.0.0.0');
  });

  it('writes replies our decoder reads back: 53 first, padded to 300, END', () => {
    for (const name of ['bios-rom-discover', 'ovmf-discover', 'ipxe-discover', 'ovmf-http-discover']) {
      const req = fixture(name);
      const r = proxyOffer(req, pxe(req), target(req), ctx);
      expect(r.bytes.length).toBeGreaterThanOrEqual(300);
      expect(r.bytes[240]).toBe(OPT.messageType);
      expect(decodeDhcp(r.bytes)).toEqual(r.packet);
    }
  });

  it('answers a relayed DISCOVER at the relay agent, port 67, with option 82 echoed last', () => {
    const req = fixture('ovmf-discover');
    const relayed: DhcpPacket = { ...req, hops: 1, giaddr: '10.9.0.1', options: [...req.options, { code: OPT.relayAgentInfo, data: Uint8Array.of(1, 3, 0x65, 0x74, 0x30) }] };
    const r = proxyOffer(relayed, pxe(relayed), target(relayed), ctx);
    expect(r.to).toEqual({ address: '10.9.0.1', port: 67 });
    expect(r.packet.giaddr).toBe('10.9.0.1');
    const last = decodeDhcp(r.bytes).options.at(-1)!;
    expect([last.code, toHex(last.data)]).toEqual([82, '0103657430']);
  });
});

describe('iPXE cross-signed certificate source (175.93) with a direct https:// script', () => {
  const direct: BootTarget = { kind: 'script', url: 'https://cloud.example/v1/boot/52-54-00-a6-00-01?sig=x', crosscert: 'http://10.77.0.2:8080/crosscert' };
  const sub93 = [93, 31, ...new TextEncoder().encode('http://10.77.0.2:8080/crosscert')];

  it('puts 175.93 in the proxy OFFER and the 4011 ACK to iPXE', () => {
    const req = fixture('ipxe-2025-arm64-discover');
    expect([...getOption(proxyOffer(req, pxe(req), direct, ctx).packet, OPT.ipxeEncap)!]).toEqual(sub93);
    const ack = proxyAck(req, pxe(req), direct, ctx, { address: '10.77.0.150', port: 68 });
    expect([...getOption(ack.packet, OPT.ipxeEncap)!]).toEqual(sub93);
    expect(text(ack.packet, OPT.bootFileName)).toBe(direct.url);
  });

  it('in full mode shares one option 175 with 175.176 = 1, and reads back from the wire', () => {
    const req = fixture('ipxe-2025-arm64-discover');
    const lease = { address: '10.77.0.150', leaseSeconds: 600, subnetMask: '255.255.255.0', routers: [], dnsServers: [] };
    const r = fullReply('ack', req, lease, pxe(req), direct, ctx);
    expect(r.packet.options.filter((o) => o.code === OPT.ipxeEncap)).toHaveLength(1);
    const back = ipxeOptions(decodeDhcp(r.bytes))!;
    expect(new TextDecoder().decode(back.get(93))).toBe('http://10.77.0.2:8080/crosscert');
    expect([...back.get(176)!]).toEqual([1]);
  });

  it('sends no 175.93 without a crosscert, nor to firmware', () => {
    const req = fixture('ipxe-2025-arm64-discover');
    expect(getOption(proxyOffer(req, pxe(req), { kind: 'script', url: direct.url }, ctx).packet, OPT.ipxeEncap)).toBeUndefined();
    const fw = fixture('aavmf-arm64-discover');
    expect(getOption(proxyOffer(fw, pxe(fw), { kind: 'tftp', file: 'ipxe-arm64.efi' }, ctx).packet, OPT.ipxeEncap)).toBeUndefined();
  });
});

describe('boot targets', () => {
  it('gives BIOS firmware undionly.kpxe and x64 UEFI ipxe.efi, or snponly.efi when configured', () => {
    expect(target(fixture('bios-rom-discover'))).toEqual({ kind: 'tftp', file: 'undionly.kpxe' });
    expect(target(fixture('ovmf-discover'))).toEqual({ kind: 'tftp', file: 'ipxe.efi' });
    expect(target(fixture('ovmf-discover'), { ...targets, bootFiles: { ...DEFAULT_BOOT_FILES, uefiX64: 'snponly.efi' } })).toEqual({ kind: 'tftp', file: 'snponly.efi' });
  });

  it('gives arm64 UEFI firmware (AAVMF, option 93 = 11) ipxe-arm64.efi, and nothing when none is configured', () => {
    const arm = fixture('aavmf-arm64-discover');
    expect(bootTarget(pxe(arm), targets)).toEqual({ ok: true, target: { kind: 'tftp', file: 'ipxe-arm64.efi' } });
    expect(bootTarget(pxe(arm), { ...targets, bootFiles: { ...DEFAULT_BOOT_FILES, uefiArm64: null } })).toEqual({ ok: false, reason: 'no boot file configured for ARM 64-bit UEFI' });
    const r = proxyOffer(arm, pxe(arm), target(arm), ctx);
    expect([r.packet.file, r.packet.siaddr, hex(r.packet, OPT.vendorEncap)]).toEqual(['ipxe-arm64.efi', '10.77.0.2', '060108ff']);
  });

  it("gives arm64 iPXE (trixie's, HTTPS) its script URL with arch=11", () => {
    expect(target(fixture('ipxe-2025-arm64-discover'))).toEqual({ kind: 'script', url: 'http://10.77.0.2:8080/boot?mac=52-54-00-a6-00-01&nonce=n0nce-AAAAAAAAAAAAAAAA&arch=11&uuid=${uuid}' });
  });

  it('refuses to build a script URL without a nonce', () => {
    expect(() => bootTarget(pxe(fixture('ipxe-discover')), targets)).toThrow(/nonce/);
  });

  it('URL-encodes the nonce and leaves ${uuid} for iPXE to expand', () => {
    expect(scriptUrl('http://r:8080', { mac: '52:54:00:e8:00:01', arch: 7, nonce: 'a+b/c' })).toBe('http://r:8080/boot?mac=52-54-00-e8-00-01&nonce=a%2Bb%2Fc&arch=7&uuid=${uuid}');
  });

  it('puts a script URL too long for the file field in option 67 only', () => {
    const req = fixture('ipxe-discover');
    const long = { ...targets, httpBase: `http://${'relay-'.repeat(8)}example.internal:8080` };
    const r = proxyOffer(req, pxe(req), target(req, long), ctx);
    expect(r.packet.file).toBe('');
    expect(text(r.packet, OPT.bootFileName)!.length).toBeGreaterThan(127);
  });
});

describe('full-mode replies', () => {
  const lease = { address: '10.77.0.120', leaseSeconds: 3600, subnetMask: '255.255.255.0', routers: ['10.77.0.1'], dnsServers: ['10.77.0.1', '10.77.0.3'] };

  it('offers iPXE an address, its script and 175.176 = 1 so it does not wait for a ProxyDHCP', () => {
    const req = fixture('ipxe-discover');
    const r = fullReply('offer', req, lease, pxe(req), target(req), ctx);
    const p = decodeDhcp(r.bytes);
    expect(p.yiaddr).toBe('10.77.0.120');
    expect([hex(p, OPT.leaseTime), hex(p, OPT.renewalTime), hex(p, OPT.rebindingTime)]).toEqual(['00000e10', '00000708', '00000c4e']);
    expect([hex(p, OPT.subnetMask), hex(p, OPT.routers), hex(p, OPT.dnsServers)]).toEqual(['ffffff00', '0a4d0001', '0a4d00010a4d0003']);
    expect([...ipxeOptions(p)!]).toEqual([[176, Uint8Array.of(1)]]);
    expect(p.file).toMatch(/\/boot\?mac=52-54-00-e8-00-01/);
    expect(getOption(p, OPT.vendorClass)).toBeUndefined();
    expect(r.to).toEqual({ address: '255.255.255.255', port: 68 });
  });

  it('gives firmware next-server and file without option 60, so it boots without asking on 4011', () => {
    const req = fixture('ovmf-discover');
    const r = fullReply('offer', req, lease, pxe(req), target(req), ctx);
    expect([r.packet.siaddr, r.packet.file]).toEqual(['10.77.0.2', 'ipxe.efi']);
    expect(getOption(r.packet, OPT.vendorClass)).toBeUndefined();
    expect(getOption(r.packet, OPT.ipxeEncap)).toBeUndefined();
  });

  it('gives an HTTP-boot client HTTPClient and the URL', () => {
    const req = fixture('ovmf-http-discover');
    const r = fullReply('ack', req, lease, pxe(req), target(req), ctx);
    expect(text(r.packet, OPT.vendorClass)).toBe('HTTPClient');
    expect(text(r.packet, OPT.bootFileName)).toBe('http://10.77.0.2:8080/ipxe/ipxe.efi');
  });

  it('gives a non-PXE client an address only', () => {
    const req = fixture('router-offer-to-ovmf'); // any packet will do as a shape; make it a request
    const plain: DhcpPacket = { ...req, op: 1, options: [{ code: OPT.messageType, data: Uint8Array.of(1) }] };
    const r = fullReply('offer', plain, lease, classify(plain), null, ctx);
    expect(r.packet.file).toBe('');
    expect(r.packet.options.map((o) => o.code)).toEqual([53, 54, 51, 58, 59, 1, 3, 6]);
  });

  it('ACKs a renewing client (ciaddr set) by unicast to its address', () => {
    const req: DhcpPacket = { ...fixture('ovmf-request'), ciaddr: '10.77.0.120', flags: 0 };
    const r = fullReply('ack', req, lease, pxe(req), target(req), ctx);
    expect(r.to).toEqual({ address: '10.77.0.120', port: 68 });
    expect(r.packet.ciaddr).toBe('10.77.0.120');
  });

  it('answers a relay agent at giaddr port 67', () => {
    const req: DhcpPacket = { ...fixture('ovmf-discover'), giaddr: '10.9.0.1', hops: 1 };
    expect(fullReply('offer', req, lease, pxe(req), target(req), ctx).to).toEqual({ address: '10.9.0.1', port: 67 });
  });

  it('ACKs an INFORM without an address or lease times, to ciaddr', () => {
    const req: DhcpPacket = { ...fixture('ovmf-request'), ciaddr: '10.77.0.77' };
    const r = informAck(req, lease, pxe(req), null, ctx);
    expect(r.packet.yiaddr).toBe('0.0.0.0');
    expect(getOption(r.packet, OPT.leaseTime)).toBeUndefined();
    expect(r.to).toEqual({ address: '10.77.0.77', port: 68 });
  });

  it('broadcasts a NAK with its reason and nothing else, or sends it to the relay with the broadcast bit', () => {
    const req = fixture('ovmf-request');
    const r = nak(req, ctx, 'address not available');
    expect(r.packet.options.map((o) => o.code)).toEqual([53, 54, 56]);
    expect([r.packet.yiaddr, r.packet.file]).toEqual(['0.0.0.0', '']);
    expect(r.to).toEqual({ address: '255.255.255.255', port: 68 });
    const relayed = nak({ ...req, giaddr: '10.9.0.1', flags: 0 }, ctx, 'no');
    expect(relayed.to).toEqual({ address: '10.9.0.1', port: 67 });
    expect(relayed.packet.flags & 0x8000).toBe(0x8000);
  });
});
