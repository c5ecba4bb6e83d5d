/**
 * A boot, read back from a tcpdump capture of the LAN bridge (pure: bytes in, events out). Only what
 * test/bench/boot-time.ts needs to place a boot's stages on the wire:
 *
 *   DHCP (UDP 67/68/4011, decoded with the relay's own codec), TFTP (RRQ, OACK, DATA, ERROR),
 *   HTTP requests (the request line of a TCP segment to the server) and the server's TCP data back,
 *   ICMPv6 router solicitations and advertisements (with the M and O flags), ARP requests (dnsmasq's
 *   "ping before offering" starts with ARP for the address it is about to offer, unanswered).
 *
 * Classic pcap only (what `tcpdump -w` writes): microsecond or nanosecond magic, either byte order,
 * Ethernet link type. Truncated frames (a small snaplen) are decoded as far as they go.
 */
import { decodeDhcp, getOption, latin1, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { IPXE_SUBOPTIONS, OPT, PXE_SUBOPTIONS } from '../../../relay/src/dhcp/options.ts';
import { ipxeOptions, messageType, pxeOptions, serverId } from '../../../relay/src/dhcp/read.ts';

export interface Frame {
  /** Capture time, ms since the epoch (fractional). */
  t: number;
  data: Uint8Array;
}

export function readPcap(bytes: Uint8Array): Frame[] {
  if (bytes.length < 24) return [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = dv.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) [le, nano] = [true, magicLE === 0xa1b23c4d];
  else if (dv.getUint32(0, false) === 0xa1b2c3d4 || dv.getUint32(0, false) === 0xa1b23c4d) [le, nano] = [false, dv.getUint32(0, false) === 0xa1b23c4d];
  else throw new Error('not a classic pcap file');
  const linkType = dv.getUint32(20, le);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}: only Ethernet (1) is read`);
  const frames: Frame[] = [];
  let off = 24;
  while (off + 16 <= bytes.length) {
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    if (off + 16 + incl > bytes.length) break; // the last record of a capture cut short
    frames.push({ t: sec * 1000 + (nano ? frac / 1e6 : frac / 1e3), data: bytes.subarray(off + 16, off + 16 + incl) });
    off += 16 + incl;
  }
  return frames;
}

export type DhcpTypeName = 'DISCOVER' | 'OFFER' | 'REQUEST' | 'DECLINE' | 'ACK' | 'NAK' | 'RELEASE' | 'INFORM' | `type ${number}`;
const DHCP_TYPE_NAMES: Record<number, DhcpTypeName> = { 1: 'DISCOVER', 2: 'OFFER', 3: 'REQUEST', 4: 'DECLINE', 5: 'ACK', 6: 'NAK', 7: 'RELEASE', 8: 'INFORM' };

export type NetEvent =
  | {
      t: number;
      kind: 'dhcp';
      type: DhcpTypeName;
      /** op 1 (from a client) or 2 (from a server). */
      fromClient: boolean;
      src: string;
      dst: string;
      sport: number;
      dport: number;
      chaddr: string;
      /** Client messages: `ipxe` when the sender is iPXE (user class `iPXE` or option 175), else `firmware`. */
      client?: 'ipxe' | 'firmware';
      serverId?: string;
      yiaddr: string;
      /** The boot file, from `file` or option 67. */
      file?: string;
      siaddr: string;
      /** Replies: option 60 says `PXEClient`; a PXE menu (43.9) is present; 175.176 ("no ProxyDHCP") is set. */
      pxeClient?: boolean;
      pxeMenu?: boolean;
      noProxyDhcp?: boolean;
    }
  | { t: number; kind: 'tftp-rrq'; src: string; file: string; options: Record<string, string> }
  | { t: number; kind: 'tftp-oack' | 'tftp-error'; src: string; dst: string; text: string }
  | { t: number; kind: 'tftp-data'; src: string; dst: string; block: number; bytes: number }
  | { t: number; kind: 'http-request'; src: string; dst: string; conn: string; line: string }
  | { t: number; kind: 'tcp-syn'; src: string; dst: string; dport: number; conn: string }
  | { t: number; kind: 'tcp-data'; src: string; dst: string; conn: string; bytes: number; fin: boolean; retransmit: boolean }
  | { t: number; kind: 'rs'; src: string }
  | { t: number; kind: 'ra'; src: string; managed: boolean; other: boolean; routerLifetime: number; prefixes: string[] }
  | { t: number; kind: 'arp-request'; sender: string; target: string };

const ip4 = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const macOf = (b: Uint8Array, o: number) => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

/** TFTP data flows by (server address:port → client address:port); a TID pair is one transfer. */
const TFTP_OPS = { RRQ: 1, DATA: 3, ERROR: 5, OACK: 6 } as const;

/**
 * Every event of interest in a capture, in capture order. `tftpServers` are the TFTP servers' addresses
 * (DATA comes from an ephemeral port, so a UDP packet is taken for TFTP data when it comes from one of
 * them and is not DHCP); `httpPorts` the ports HTTP servers listen on.
 */
export function netEvents(frames: Frame[], o: { tftpServers: string[]; httpPorts: number[] }): NetEvent[] {
  const out: NetEvent[] = [];
  /** Per server→client connection: the sequence number just past the highest byte sent so far. */
  const sent = new Map<string, number>();
  for (const f of frames) {
    try {
      decodeFrame(f, o, out, sent);
    } catch {
      // A frame cut short by the snaplen, or one we do not read: skip it.
    }
  }
  return out;
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function decodeFrame(f: Frame, o: { tftpServers: string[]; httpPorts: number[] }, out: NetEvent[], sent: Map<string, number>): void {
  const b = f.data;
  let off = 12;
  let etherType = u16(b, off);
  if (etherType === 0x8100) {
    off += 4;
    etherType = u16(b, off);
  }
  off += 2;
  if (etherType === 0x0806) {
    // ARP request (op 1): sender IP at 14, target IP at 24 of the ARP payload.
    if (u16(b, off + 6) === 1) out.push({ t: f.t, kind: 'arp-request', sender: ip4(b, off + 14), target: ip4(b, off + 24) });
    return;
  }
  if (etherType === 0x86dd) return ipv6(f, b, off, out);
  if (etherType !== 0x0800) return;
  const ihl = (b[off]! & 0x0f) * 4;
  const total = u16(b, off + 2);
  const proto = b[off + 9]!;
  const src = ip4(b, off + 12);
  const dst = ip4(b, off + 16);
  const l4 = off + ihl;
  const l4End = Math.min(b.length, off + total);
  if (proto === 17) {
    const sport = u16(b, l4);
    const dport = u16(b, l4 + 2);
    const payload = b.subarray(l4 + 8, l4End);
    const dhcpPorts = [67, 68, 4011];
    if (dhcpPorts.includes(sport) && dhcpPorts.includes(dport)) return dhcp(f.t, payload, src, dst, sport, dport, out);
    const op = u16(payload, 0);
    if (dport === 69 && op === TFTP_OPS.RRQ) {
      const parts = latin1(payload.subarray(2)).split('\0');
      const options: Record<string, string> = {};
      for (let i = 2; i + 1 < parts.length; i += 2) if (parts[i]) options[parts[i]!.toLowerCase()] = parts[i + 1]!;
      out.push({ t: f.t, kind: 'tftp-rrq', src, file: parts[0] ?? '', options });
      return;
    }
    if (!o.tftpServers.includes(src) && !o.tftpServers.includes(dst)) return;
    if (op === TFTP_OPS.DATA && o.tftpServers.includes(src)) out.push({ t: f.t, kind: 'tftp-data', src, dst, block: u16(payload, 2), bytes: total - ihl - 8 - 4 });
    else if (op === TFTP_OPS.OACK) out.push({ t: f.t, kind: 'tftp-oack', src, dst, text: latin1(payload.subarray(2)).split('\0').join(' ').trim() });
    else if (op === TFTP_OPS.ERROR) out.push({ t: f.t, kind: 'tftp-error', src, dst, text: `${u16(payload, 2)} ${latin1(payload.subarray(4)).replace(/\0.*$/, '')}` });
    return;
  }
  if (proto === 6) {
    const sport = u16(b, l4);
    const dport = u16(b, l4 + 2);
    const dataOff = (b[l4 + 12]! >> 4) * 4;
    const flags = b[l4 + 13]!;
    const len = total - ihl - dataOff;
    if (o.httpPorts.includes(dport)) {
      const conn = `${src}:${sport}-${dst}:${dport}`;
      if (flags & 0x02) out.push({ t: f.t, kind: 'tcp-syn', src, dst, dport, conn });
      if (len > 0) {
        const head = latin1(b.subarray(l4 + dataOff, Math.min(l4End, l4 + dataOff + 400)));
        const line = /^(GET|HEAD|POST|PUT) \S+/.exec(head)?.[0];
        if (line) out.push({ t: f.t, kind: 'http-request', src, dst, conn, line });
      }
    } else if (o.httpPorts.includes(sport) && (len > 0 || flags & 0x01)) {
      const conn = `${dst}:${dport}-${src}:${sport}`;
      // A segment that ends at or below what the server already sent is a retransmission (after
      // `boot`, the loaded kernel no longer acknowledges what iPXE received last).
      const seqEnd = (dv(b).getUint32(l4 + 4) + Math.max(0, len)) >>> 0;
      const prev = sent.get(conn);
      const retransmit = prev !== undefined && len > 0 && ((seqEnd - prev) | 0) <= 0;
      if (!retransmit) sent.set(conn, seqEnd);
      out.push({ t: f.t, kind: 'tcp-data', src, dst, conn, bytes: Math.max(0, len), fin: (flags & 0x01) !== 0, retransmit });
    }
  }
}

function dhcp(t: number, payload: Uint8Array, src: string, dst: string, sport: number, dport: number, out: NetEvent[]): void {
  let p: DhcpPacket;
  try {
    p = decodeDhcp(payload);
  } catch {
    return;
  }
  const type = messageType(p);
  const name = type === undefined ? ('type 0' as const) : (DHCP_TYPE_NAMES[type] ?? (`type ${type}` as const));
  const fromClient = p.op === 1;
  const vendor = getOption(p, OPT.vendorClass);
  const file67 = getOption(p, OPT.bootFileName);
  const file = p.file || (file67 ? latin1(file67) : '');
  const userClass = getOption(p, OPT.userClass);
  const ev: NetEvent = {
    t,
    kind: 'dhcp',
    type: name,
    fromClient,
    src,
    dst,
    sport,
    dport,
    chaddr: macOf(p.chaddr, 0),
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
  };
  if (fromClient) ev.client = (userClass && latin1(userClass).includes('iPXE')) || getOption(p, OPT.ipxeEncap) ? 'ipxe' : 'firmware';
  const sid = serverId(p);
  if (sid) ev.serverId = sid;
  if (file) ev.file = file;
  if (!fromClient) {
    ev.pxeClient = vendor ? latin1(vendor).startsWith('PXEClient') : false;
    ev.pxeMenu = quietly(() => pxeOptions(p)?.has(PXE_SUBOPTIONS.bootMenu)) ?? false;
    ev.noProxyDhcp = quietly(() => ipxeOptions(p)?.get(IPXE_SUBOPTIONS.noPxeDhcp)?.[0] === 1) ?? false;
  }
  out.push(ev);
}

/** A sub-option block that does not parse reads as absent. */
function quietly<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function ipv6(f: Frame, b: Uint8Array, off: number, out: NetEvent[]): void {
  let next = b[off + 6]!;
  const src = Array.from({ length: 8 }, (_, i) => u16(b, off + 8 + i * 2).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  let p = off + 40;
  // Hop-by-hop options (MLD reports carry one): skip extension headers until ICMPv6.
  while (next === 0 && p + 2 <= b.length) {
    const len = (b[p + 1]! + 1) * 8;
    next = b[p]!;
    p += len;
  }
  if (next !== 58) return;
  const type = b[p]!;
  if (type === 133) out.push({ t: f.t, kind: 'rs', src });
  if (type === 134) {
    const flags = b[p + 5]!;
    const prefixes: string[] = [];
    // Options start after the 16-byte RA header; type 3 is Prefix Information (prefix at +16, length at +2).
    for (let q = p + 16; q + 2 <= b.length && b[q + 1]! > 0; q += b[q + 1]! * 8) {
      if (b[q] === 3 && q + 32 <= b.length) {
        const pf = Array.from({ length: 4 }, (_, i) => u16(b, q + 16 + i * 2).toString(16)).join(':');
        const fl = b[q + 3]!;
        prefixes.push(`${pf}::/${b[q + 2]} ${fl & 0x80 ? 'L' : ''}${fl & 0x40 ? 'A' : ''}`.trim());
      }
    }
    out.push({ t: f.t, kind: 'ra', src, managed: (flags & 0x80) !== 0, other: (flags & 0x40) !== 0, routerLifetime: u16(b, p + 6), prefixes });
  }
}
