import type { BootTarget } from './boot-target.ts';
import type { Classification } from './classify.ts';
import { encodeDhcp, getOption, ipBytes, MAX_PACKET, type DhcpOption, type DhcpPacket } from './codec.ts';
import { MESSAGE_TYPES, OPT, PXE_SUBOPTIONS, IPXE_SUBOPTIONS } from './options.ts';
import { maxMessageSize, pxeOptions } from './read.ts';

/**
 * Reply builders (pure): a decoded request in, the reply's packet, bytes and destination out.
 *
 * Proxy mode copies what dnsmasq's proxy sends (captured in test/relay/dhcp/fixtures): yiaddr 0.0.0.0,
 * options 53, 54, 60 `PXEClient`, 97 echoed, and for BIOS PXE ROMs option 43 with a one-entry menu
 * whose prompt times out at once (43.6 = 3: discover only the listed boot server, which is us; 43.10
 * timeout 0), so the ROM goes straight to its 4011 REQUEST instead of showing a prompt.
 * Departures, each for the client's sake (measured with `npm run bench:boot-time`):
 * - iPXE gets its script URL in the OFFER (dnsmasq sends it a menu), with siaddr set: Debian's iPXE
 *   (1.0.0+git-20190125) takes an offer's boot file only when siaddr is set too; without it, it asks on
 *   4011 (one more round trip).
 * - UEFI PXE firmware gets the file name and siaddr in the OFFER (dnsmasq keeps them for the 4011 ACK)
 *   and option 43 with discovery control bit 3, "use the boot file in this packet" (PXE 2.1 table 2-1):
 *   EDK2 then files the offer as PXE 1.0 proxy offer with a boot file and skips boot-server discovery.
 *   Without it, OVMF sends its 4011 REQUEST and EDK2's Dhcp4 TransmitReceive polls out its whole 1 s
 *   timeout even though our ACK comes back in a millisecond — 1.0 s of every UEFI boot. dnsmasq always
 *   sends EFI clients to 4011 and pays it. (A firmware that does ask on 4011 still gets the same answer.)
 * - UEFI HTTP boot (which dnsmasq's proxy ignores) gets option 60 `HTTPClient` and the URL.
 * Full mode adds the lease. Replies to iPXE there carry 175.176 = 1 ("no ProxyDHCP"): without it iPXE,
 * holding an address offer with no proxy offer, waits ~3 s for a ProxyDHCP that does not exist
 * (FIELD-NOTES). Proxy replies never carry it: there the offer *is* the proxy offer, and iPXE would
 * also ignore PXE options it receives with the flag set.
 * A direct https:// script URL can carry iPXE's cross-signed certificate source (175.93, `crosscert`):
 * the Debian/upstream iPXE trusts only the iPXE root CA and links a public CA's certificate to it with
 * a cross-signature fetched from that source (README, "HTTPS to the cloud").
 */
export interface Destination {
  address: string;
  port: number;
}

export interface Reply {
  packet: DhcpPacket;
  bytes: Uint8Array;
  to: Destination;
}

export type PxeClient = Extract<Classification, { pxe: true }>;

export interface ReplyContext {
  /** The relay's address on the served LAN: option 54, and siaddr for TFTP. */
  serverIp: string;
  /** Text of the single PXE menu entry and prompt shown to BIOS ROMs (dnsmasq's pxe-prompt/pxe-service). */
  menuText?: string;
}

/** 43.6 bit 3 (PXE 2.1 table 2-1): boot the file named in this packet, no boot-server discovery. */
const USE_BOOT_FILE = 0x08;
/** PXE boot server type of our one menu entry: vendor types start at 0x8000 (PXE 2.1 table 2-3). */
export const BOOT_SERVER_TYPE = 0x8000;
const BROADCAST: Destination = { address: '255.255.255.255', port: 68 };
const ZERO = '0.0.0.0';
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const opt = (code: number, data: Uint8Array): DhcpOption => ({ code, data });
// Option values every reply of a kind shares, made once: the encoder only reads them.
const PXE_CLIENT = ascii('PXEClient');
const HTTP_CLIENT = ascii('HTTPClient');
const USE_BOOT_FILE_43 = Uint8Array.of(PXE_SUBOPTIONS.discoveryControl, 1, USE_BOOT_FILE, PXE_SUBOPTIONS.end);
const TYPE_BYTE: Record<number, Uint8Array> = {};
const typeByte = (t: number) => (TYPE_BYTE[t] ??= Uint8Array.of(t));

/** Per LAN (its ReplyContext is made once): option 54, the BIOS menu and its prompt, built on first use. */
interface Prepared {
  serverIp: string;
  menuText: string | undefined;
  serverId: Uint8Array;
  biosMenu?: Uint8Array;
  prompt?: number[];
}
const prepared = new WeakMap<ReplyContext, Prepared>();
function prep(ctx: ReplyContext): Prepared {
  let p = prepared.get(ctx);
  // Made again if someone changed the context's fields since.
  if (!p || p.serverIp !== ctx.serverIp || p.menuText !== ctx.menuText) prepared.set(ctx, (p = { serverIp: ctx.serverIp, menuText: ctx.menuText, serverId: ipBytes(ctx.serverIp) }));
  return p;
}

/** A proxyDHCP OFFER (no address) to a PXE client's DISCOVER on port 67. */
export function proxyOffer(req: DhcpPacket, c: PxeClient, target: BootTarget, ctx: ReplyContext): Reply {
  const p = base(req, MESSAGE_TYPES.OFFER, ctx);
  p.options.push(opt(OPT.vendorClass, c.kind === 'http-boot' ? HTTP_CLIENT : PXE_CLIENT));
  echo(req, p, OPT.clientGuid);
  if (c.kind === 'firmware' && c.arch.arch === 'bios') {
    const pre = prep(ctx);
    p.options.push(opt(OPT.vendorEncap, (pre.biosMenu ??= biosMenu(ctx))));
  } else {
    if (target.kind !== 'http') p.siaddr = ctx.serverIp;
    if (c.kind === 'firmware') p.options.push(opt(OPT.vendorEncap, USE_BOOT_FILE_43));
    if (c.kind === 'ipxe') pushIpxeEncap(p, target, false);
    placeBootFile(p, target);
  }
  // Relayed: the agent delivers a reply with no yiaddr only by broadcast on the client's segment
  // (RFC 2131 §4.1, RFC 1542 §4.1.2), so the flag must say so whatever the client asked (dnsmasq does the same).
  if (req.giaddr !== ZERO) p.flags |= 0x8000;
  return finish(req, p, proxyDestination(req));
}

/**
 * The ACK to a REQUEST on UDP 4011 (PXE 2.1 §2.2.5, boot server discovery), sent back to the port it
 * came from (OVMF sends from 4011, iPXE from 68). When the request names a menu item (43.71, BIOS ROMs
 * after our menu), the ACK echoes it and, like dnsmasq, moves the client's address from ciaddr to yiaddr.
 */
export function proxyAck(req: DhcpPacket, c: PxeClient, target: BootTarget, ctx: ReplyContext, from: Destination): Reply {
  const p = base(req, MESSAGE_TYPES.ACK, ctx);
  p.options.push(opt(OPT.vendorClass, c.kind === 'http-boot' ? HTTP_CLIENT : PXE_CLIENT));
  echo(req, p, OPT.clientGuid);
  const item = pxeOptions(req)?.get(PXE_SUBOPTIONS.bootItem);
  if (item && item.length === 4) {
    p.yiaddr = req.ciaddr;
    p.options.push(opt(OPT.vendorEncap, Uint8Array.of(PXE_SUBOPTIONS.bootItem, 4, ...item, ...prompt(ctx), PXE_SUBOPTIONS.end)));
  } else {
    p.ciaddr = req.ciaddr;
  }
  p.siaddr = ctx.serverIp;
  if (target.kind === 'tftp') p.sname = ctx.serverIp;
  if (c.kind === 'ipxe') pushIpxeEncap(p, target, false);
  placeBootFile(p, target);
  return finish(req, p, from);
}

export interface LeaseOffer {
  address: string;
  leaseSeconds: number;
  subnetMask: string;
  routers: string[];
  dnsServers: string[];
  domainName?: string;
}

/** Full mode OFFER or ACK: an address and, for PXE clients, what to boot (`target` null: address only). */
export function fullReply(
  type: 'offer' | 'ack',
  req: DhcpPacket,
  lease: LeaseOffer,
  c: Classification,
  target: BootTarget | null,
  ctx: ReplyContext,
): Reply {
  const p = base(req, type === 'offer' ? MESSAGE_TYPES.OFFER : MESSAGE_TYPES.ACK, ctx);
  p.yiaddr = lease.address;
  if (req.ciaddr !== ZERO && type === 'ack') p.ciaddr = req.ciaddr;
  addLeaseOptions(p.options, lease, true);
  addBoot(req, p, c, target, ctx);
  return finish(req, p, fullDestination(req, p));
}

/** RFC 2131 §4.3.5: the ACK to an INFORM has no yiaddr and no lease times, and goes to ciaddr. */
export function informAck(req: DhcpPacket, lease: Omit<LeaseOffer, 'address' | 'leaseSeconds'>, c: Classification, target: BootTarget | null, ctx: ReplyContext): Reply {
  const p = base(req, MESSAGE_TYPES.ACK, ctx);
  p.ciaddr = req.ciaddr;
  addLeaseOptions(p.options, { ...lease, address: ZERO, leaseSeconds: 0 }, false);
  addBoot(req, p, c, target, ctx);
  return finish(req, p, fullDestination(req, p));
}

/** RFC 2131 §4.3.2: a NAK carries no address or configuration, and is broadcast unless relayed. */
export function nak(req: DhcpPacket, ctx: ReplyContext, message: string): Reply {
  const p = base(req, MESSAGE_TYPES.NAK, ctx);
  p.options.push(opt(OPT.message, ascii(message.slice(0, 255))));
  if (req.giaddr !== ZERO) p.flags |= 0x8000;
  return finish(req, p, fullDestination(req, p));
}

function base(req: DhcpPacket, type: number, ctx: ReplyContext): DhcpPacket {
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: ZERO,
    yiaddr: ZERO,
    siaddr: ZERO,
    giaddr: req.giaddr,
    // Shared with the request, not copied: the encoder only reads it.
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options: [opt(OPT.messageType, typeByte(type)), opt(OPT.serverId, prep(ctx).serverId)],
  };
}

/**
 * A LAN's lease options (mask, routers, DNS, domain, and the three times) are the same in every reply,
 * so the last set made is kept and handed out again while its inputs are the same: the routers and DNS
 * lists are the LAN's own arrays (compared by identity), and the encoder only reads options. Made per
 * reply they were seven small arrays and their option objects, a sixth of a full-mode storm's garbage.
 */
let leaseMemo: { subnetMask: string; routers: string[]; dnsServers: string[]; domainName: string | undefined; leaseSeconds: number; times: DhcpOption[]; rest: DhcpOption[] } | null = null;

function addLeaseOptions(out: DhcpOption[], l: LeaseOffer, withTimes: boolean): void {
  let m = leaseMemo;
  if (!m || m.subnetMask !== l.subnetMask || m.routers !== l.routers || m.dnsServers !== l.dnsServers || m.domainName !== l.domainName) {
    const rest = [opt(OPT.subnetMask, ipBytes(l.subnetMask))];
    if (l.routers.length) rest.push(opt(OPT.routers, ips(l.routers)));
    if (l.dnsServers.length) rest.push(opt(OPT.dnsServers, ips(l.dnsServers)));
    if (l.domainName) rest.push(opt(OPT.domainName, ascii(l.domainName)));
    m = leaseMemo = { subnetMask: l.subnetMask, routers: l.routers, dnsServers: l.dnsServers, domainName: l.domainName, leaseSeconds: -1, times: [], rest };
  }
  if (withTimes && m.leaseSeconds !== l.leaseSeconds) {
    // RFC 2131 §4.4.5 defaults: renew at 1/2, rebind at 7/8 of the lease.
    m.times = [opt(OPT.leaseTime, u32(l.leaseSeconds)), opt(OPT.renewalTime, u32(Math.floor(l.leaseSeconds / 2))), opt(OPT.rebindingTime, u32(Math.floor((l.leaseSeconds * 7) / 8)))];
    m.leaseSeconds = l.leaseSeconds;
  }
  if (withTimes) for (const o of m.times) out.push(o);
  for (const o of m.rest) out.push(o);
}

/**
 * Boot instructions in a full-mode reply. No option 60 `PXEClient` for PXE firmware: with it, EDK2 files
 * the offer as "DHCP + BINL" and asks on port 4011 before booting; without it the file and siaddr here
 * are used directly, as from any plain DHCP server. HTTP boot does need `HTTPClient` (EDK2 HttpBootDxe).
 */
function addBoot(req: DhcpPacket, p: DhcpPacket, c: Classification, target: BootTarget | null, ctx: ReplyContext): void {
  if (!target || !c.pxe) return;
  if (c.kind === 'http-boot') p.options.push(opt(OPT.vendorClass, HTTP_CLIENT));
  if (c.kind === 'ipxe') pushIpxeEncap(p, target, true);
  echo(req, p, OPT.clientGuid);
  if (target.kind === 'tftp') p.siaddr = ctx.serverIp;
  placeBootFile(p, target);
}

/**
 * TFTP names go in `file` only (what PXE ROMs read; dnsmasq does the same). URLs also go in option 67:
 * EDK2's HTTP boot and iPXE read it, and a URL longer than the 127 usable bytes of `file` fits only there
 * (iPXE takes option 67 when `file` is empty).
 */
function placeBootFile(p: DhcpPacket, t: BootTarget): void {
  const name = t.kind === 'tftp' ? t.file : t.url;
  if (name.length <= 127) p.file = name;
  if (t.kind !== 'tftp') p.options.push(opt(OPT.bootFileName, ascii(name)));
}

/**
 * One option 175 for iPXE: 175.176 = 1 (full mode) and 175.93 (a direct script's crosscert source), as
 * sub-options of a single instance (two instances of 175 would need RFC 3396 concatenation).
 */
function pushIpxeEncap(p: DhcpPacket, target: BootTarget, noPxeDhcp: boolean): void {
  const subs: number[] = [];
  if (noPxeDhcp) subs.push(IPXE_SUBOPTIONS.noPxeDhcp, 1, 1);
  if (target.kind === 'script' && target.crosscert) {
    const url = ascii(target.crosscert);
    if (url.length <= 250) subs.push(IPXE_SUBOPTIONS.crosscert, url.length, ...url);
  }
  if (subs.length) p.options.push(opt(OPT.ipxeEncap, Uint8Array.from(subs)));
}

function biosMenu(ctx: ReplyContext): Uint8Array {
  const text = ascii((ctx.menuText ?? 'edgeboot').slice(0, 200));
  const t = [BOOT_SERVER_TYPE >> 8, BOOT_SERVER_TYPE & 0xff];
  return Uint8Array.of(
    PXE_SUBOPTIONS.discoveryControl, 1, 3,
    PXE_SUBOPTIONS.bootServers, 7, ...t, 1, ...ipBytes(ctx.serverIp),
    PXE_SUBOPTIONS.bootMenu, 3 + text.length, ...t, text.length, ...text,
    ...prompt(ctx),
    PXE_SUBOPTIONS.end,
  );
}

/** 43.10 with timeout 0: the ROM boots the first menu item without waiting for a key. */
function prompt(ctx: ReplyContext): number[] {
  const pre = prep(ctx);
  if (pre.prompt) return pre.prompt;
  const text = ascii((ctx.menuText ?? 'edgeboot').slice(0, 200));
  return (pre.prompt = [PXE_SUBOPTIONS.menuPrompt, 1 + text.length, 0, ...text]);
}

function echo(req: DhcpPacket, p: DhcpPacket, code: number): void {
  const v = getOption(req, code);
  if (v) p.options.push(opt(code, v));
}

function finish(req: DhcpPacket, p: DhcpPacket, to: Destination): Reply {
  // RFC 3046 §2.2: option 82 comes back unchanged (the encoder puts it last).
  echo(req, p, OPT.relayAgentInfo);
  const max = Math.min(MAX_PACKET, maxMessageSize(req) ?? 576);
  return { packet: p, bytes: encodeDhcp(p, { maxSize: max }), to };
}

/** Proxy offers: the client has no address yet, so broadcast unless a relay agent forwarded it. */
function proxyDestination(req: DhcpPacket): Destination {
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: 67 };
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: 68 };
  return BROADCAST;
}

/**
 * RFC 2131 §4.1: relayed → giaddr port 67; NAK → broadcast; ciaddr set → unicast to it; otherwise the
 * spec allows unicast to yiaddr, but that needs an ARP entry the client cannot answer for yet, which a
 * Node socket cannot install — so broadcast, which every client accepts.
 */
function fullDestination(req: DhcpPacket, p: DhcpPacket): Destination {
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: 67 };
  if (p.options[0]!.data[0] === MESSAGE_TYPES.NAK) return BROADCAST;
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: 68 };
  return BROADCAST;
}

function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function ips(list: string[]): Uint8Array {
  const out = new Uint8Array(list.length * 4);
  list.forEach((ip, i) => out.set(ipBytes(ip), i * 4));
  return out;
}
