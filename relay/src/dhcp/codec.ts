import { MAX_MESSAGE_TYPE, OPT, optionSpec, type WireType } from './options.ts';

/**
 * DHCPv4 packets as bytes (RFC 2131 §2, RFC 2132, RFC 3396), pure: no sockets, no clock, no logging.
 *
 * Decoding is strict, because everything arriving on UDP 67/4011 is untrusted and the relay answers
 * firmware, not people: any framing fault throws a DecodeError naming the fault, never anything else.
 *
 * Limits (decided here; the socket loop drops whatever fails them):
 * - size: 240 bytes (BOOTP header + magic cookie) to 1472 bytes (an Ethernet MTU minus IP and UDP
 *   headers; iPXE advertises exactly that in option 57, and no firmware sends fragments).
 * - hlen ≤ 16 (the chaddr field), hops ≤ 16 (RFC 1542 §4.1.1: relays discard above their limit, 16 is
 *   the customary maximum), op 1 or 2.
 * - at most 128 option entries (pads not counted) over all three option areas: a 1472-byte packet could
 *   otherwise carry ~600 zero-length options, each a Map operation and a fragment to join.
 * - the option area must end with END (255): without it a truncated packet would look complete.
 *
 * What a decoded packet preserves: every header field, options in order of first appearance with their
 * bytes (RFC 3396 fragments of one code joined into one value), sname/file up to their first NUL.
 * It drops pad options, the END marker and what follows it, and option 52: an overloaded field's options
 * are merged into `options` and the field reads as empty. `encodeDhcp` never overloads.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** A packet the encoder refuses to write (a value too long for its field, too big for the client). */
export class EncodeError extends Error {
  override name = 'EncodeError';
}

export interface DhcpOption {
  code: number;
  data: Uint8Array;
}

export interface DhcpPacket {
  /** 1 BOOTREQUEST, 2 BOOTREPLY. */
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  /** Bit 15 (0x8000) is BROADCAST (RFC 2131 §2). */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the field; the hardware address is the first `hlen`. */
  chaddr: Uint8Array;
  sname: string;
  file: string;
  options: DhcpOption[];
}

export const BOOTP_HEADER = 236;
export const MAGIC_COOKIE = 0x63825363;
export const MIN_PACKET = BOOTP_HEADER + 4;
export const MAX_PACKET = 1472;
export const MAX_HOPS = 16;
export const MAX_OPTIONS = 128;
/** RFC 1542 §3.1.1: some clients drop BOOTP replies shorter than the 300-byte BOOTP packet. */
export const MIN_REPLY = 300;

const SNAME_AT = 44;
const SNAME_LEN = 64;
const FILE_AT = 108;
const FILE_LEN = 128;

export function decodeDhcp(bytes: Uint8Array): DhcpPacket {
  if (bytes.length < MIN_PACKET) throw new DecodeError(`packet is ${bytes.length} bytes, a DHCP packet has at least ${MIN_PACKET}`);
  if (bytes.length > MAX_PACKET) throw new DecodeError(`packet is ${bytes.length} bytes, more than the ${MAX_PACKET} accepted`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const op = bytes[0]!;
  if (op !== 1 && op !== 2) throw new DecodeError(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const hlen = bytes[2]!;
  if (hlen > 16) throw new DecodeError(`hlen ${hlen} exceeds the 16-byte chaddr field`);
  const hops = bytes[3]!;
  if (hops > MAX_HOPS) throw new DecodeError(`hops ${hops} exceeds ${MAX_HOPS}`);
  const cookie = v.getUint32(BOOTP_HEADER);
  if (cookie !== MAGIC_COOKIE) throw new DecodeError(`magic cookie is 0x${cookie.toString(16).padStart(8, '0')}, not 0x63825363`);

  const acc = new OptionAccumulator();
  readOptionArea(bytes, MIN_PACKET, bytes.length, 'options', acc);
  let sname = cString(bytes, SNAME_AT, SNAME_LEN);
  let file = cString(bytes, FILE_AT, FILE_LEN);
  const overload = acc.take(OPT.overload);
  if (overload) {
    if (overload.length !== 1) throw new DecodeError(`option 52 is ${overload.length} bytes, must be 1`);
    const o = overload[0]!;
    if (o < 1 || o > 3) throw new DecodeError(`option 52 value ${o} is not 1 (file), 2 (sname) or 3 (both)`);
    // RFC 2131 §4.1: the file field is read before sname.
    if (o & 1) {
      readOptionArea(bytes, FILE_AT, FILE_AT + FILE_LEN, 'file', acc);
      file = '';
    }
    if (o & 2) {
      readOptionArea(bytes, SNAME_AT, SNAME_AT + SNAME_LEN, 'sname', acc);
      sname = '';
    }
  }
  const options = acc.finish();
  for (const o of options) checkWire(o);

  return {
    op,
    htype: bytes[1]!,
    hlen,
    hops,
    xid: v.getUint32(4),
    secs: v.getUint16(8),
    flags: v.getUint16(10),
    ciaddr: ipAt(bytes, 12),
    yiaddr: ipAt(bytes, 16),
    siaddr: ipAt(bytes, 20),
    giaddr: ipAt(bytes, 24),
    chaddr: bytes.slice(28, 44),
    sname,
    file,
    options,
  };
}

/** Joins repeated codes in order (RFC 3396 §7: concatenate every instance, options area first). */
class OptionAccumulator {
  readonly #parts = new Map<number, Uint8Array[]>();
  #entries = 0;

  add(code: number, data: Uint8Array, where: string): void {
    if (++this.#entries > MAX_OPTIONS) throw new DecodeError(`more than ${MAX_OPTIONS} options (in ${where})`);
    const list = this.#parts.get(code);
    if (list) list.push(data);
    else this.#parts.set(code, [data]);
  }

  take(code: number): Uint8Array | undefined {
    const list = this.#parts.get(code);
    if (!list) return undefined;
    this.#parts.delete(code);
    return concat(list);
  }

  finish(): DhcpOption[] {
    return [...this.#parts].map(([code, list]) => ({ code, data: concat(list) }));
  }
}

function readOptionArea(bytes: Uint8Array, start: number, end: number, where: string, acc: OptionAccumulator): void {
  let i = start;
  while (i < end) {
    const code = bytes[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) return;
    if (i + 1 >= end) throw new DecodeError(`option ${code} has no length byte (in ${where})`);
    const len = bytes[i + 1]!;
    const left = end - i - 2;
    if (len > left) throw new DecodeError(`option ${code} claims ${len} bytes, ${left} left (in ${where})`);
    acc.add(code, bytes.slice(i + 2, i + 2 + len), where);
    i += 2 + len;
  }
  // The fixed-size sname/file fields may be filled to the brim; only the main area must say END.
  if (where === 'options') throw new DecodeError('options end without END (255)');
}

const WIRE_LENGTH: Record<WireType, (n: number) => string | null> = {
  pad: () => null,
  end: () => null,
  u8: (n) => (n === 1 ? null : 'must be 1'),
  u16: (n) => (n === 2 ? null : 'must be 2'),
  u32: (n) => (n === 4 ? null : 'must be 4'),
  ip: (n) => (n === 4 ? null : 'must be 4'),
  ips: (n) => (n >= 4 && n % 4 === 0 ? null : 'must be a non-zero multiple of 4'),
  u16s: (n) => (n >= 2 && n % 2 === 0 ? null : 'must be a non-zero multiple of 2'),
  string: (n) => (n >= 1 ? null : 'must be at least 1'),
  codes: (n) => (n >= 1 ? null : 'must be at least 1'),
  bytes: () => null,
  undi: (n) => (n === 3 ? null : 'must be 3'),
  guid: (n) => (n === 17 ? null : 'must be 17'),
  tlv: () => null,
};

/** Checks the options of the table against their wire type, so getters can read them without checks. */
function checkWire(o: DhcpOption): void {
  const spec = optionSpec(o.code);
  if (!spec) return;
  const n = o.data.length;
  const fault = WIRE_LENGTH[spec.wire](n) ?? (spec.min !== undefined && n < spec.min ? `must be at least ${spec.min}` : null);
  if (fault) throw new DecodeError(`option ${o.code} (${spec.name}) is ${n} bytes, ${fault}`);
  if (spec.wire === 'tlv') checkTlv(o.code, o.data);
  if (o.code === OPT.messageType) {
    const t = o.data[0]!;
    if (t < 1 || t > MAX_MESSAGE_TYPE) throw new DecodeError(`option 53 message type ${t} is not a DHCP message type`);
  }
}

/** Framing of encapsulated sub-options (RFC 3046 §2.0, iPXE's 175); PXE's 43 allows pads and END. */
export function checkTlv(code: number, data: Uint8Array): void {
  forEachSubOption(code, data, () => {});
}

/** Walks code/length/value sub-options, skipping pads (0) and stopping at END (255). */
export function forEachSubOption(code: number, data: Uint8Array, visit: (sub: number, value: Uint8Array) => void): void {
  let i = 0;
  while (i < data.length) {
    const sub = data[i]!;
    if (sub === 0) {
      i++;
      continue;
    }
    if (sub === 255) return;
    if (i + 1 >= data.length) throw new DecodeError(`option ${code} sub-option ${sub} has no length byte`);
    const len = data[i + 1]!;
    const left = data.length - i - 2;
    if (len > left) throw new DecodeError(`option ${code}.${sub} claims ${len} bytes, ${left} left`);
    visit(sub, data.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
}

export interface EncodeOptions {
  /** Pad with zeros to at least this size; default 300 for replies (RFC 1542 §3.1.1), 0 for requests. */
  minSize?: number;
  /** Refuse to produce more than this (the client's option 57 less nothing: it counts the DHCP message). */
  maxSize?: number;
}

/**
 * Writes a packet: header, cookie, option 53 first, the rest in the given order, option 82 last (RFC 3046
 * §2.1: a server echoes it as the last option), END, zero padding. Values over 255 bytes are split into
 * consecutive instances of the same code (RFC 3396 §6).
 */
export function encodeDhcp(pkt: DhcpPacket, opts: EncodeOptions = {}): Uint8Array {
  const minSize = opts.minSize ?? (pkt.op === 2 ? MIN_REPLY : 0);
  const maxSize = opts.maxSize ?? MAX_PACKET;
  const ordered = [
    ...pkt.options.filter((o) => o.code === OPT.messageType),
    ...pkt.options.filter((o) => o.code !== OPT.messageType && o.code !== OPT.relayAgentInfo),
    ...pkt.options.filter((o) => o.code === OPT.relayAgentInfo),
  ];
  let optLen = 1;
  for (const o of ordered) {
    if (o.code === 0 || o.code === 255) throw new EncodeError(`option ${o.code} is a marker, not an option`);
    if (!Number.isInteger(o.code) || o.code < 0 || o.code > 255) throw new EncodeError(`option code ${o.code} is not a byte`);
    optLen += o.data.length + 2 * Math.max(1, Math.ceil(o.data.length / 255));
  }
  const size = Math.max(MIN_PACKET + optLen, minSize);
  if (size > maxSize) throw new EncodeError(`packet would be ${size} bytes, more than ${maxSize}`);

  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out[0] = byteField('op', pkt.op);
  out[1] = byteField('htype', pkt.htype);
  out[2] = byteField('hlen', pkt.hlen);
  out[3] = byteField('hops', pkt.hops);
  v.setUint32(4, pkt.xid >>> 0);
  v.setUint16(8, pkt.secs & 0xffff);
  v.setUint16(10, pkt.flags & 0xffff);
  out.set(ipBytes(pkt.ciaddr), 12);
  out.set(ipBytes(pkt.yiaddr), 16);
  out.set(ipBytes(pkt.siaddr), 20);
  out.set(ipBytes(pkt.giaddr), 24);
  if (pkt.chaddr.length > 16) throw new EncodeError(`chaddr is ${pkt.chaddr.length} bytes, the field holds 16`);
  out.set(pkt.chaddr, 28);
  out.set(fixedString('sname', pkt.sname, SNAME_LEN), SNAME_AT);
  out.set(fixedString('file', pkt.file, FILE_LEN), FILE_AT);
  v.setUint32(BOOTP_HEADER, MAGIC_COOKIE);
  let i = MIN_PACKET;
  for (const o of ordered) {
    let at = 0;
    do {
      const chunk = o.data.subarray(at, at + 255);
      out[i++] = o.code;
      out[i++] = chunk.length;
      out.set(chunk, i);
      i += chunk.length;
      at += 255;
    } while (at < o.data.length);
  }
  out[i] = 255;
  return out;
}

function byteField(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new EncodeError(`${name} ${n} is not a byte`);
  return n;
}

/** A NUL-terminated field: at most len − 1 bytes of Latin-1 so a terminator always fits. */
function fixedString(name: string, s: string, len: number): Uint8Array {
  const out = new Uint8Array(len);
  if (s.length > len - 1) throw new EncodeError(`${name} is ${s.length} bytes, the field holds ${len - 1} and a NUL`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0xff) throw new EncodeError(`${name} has a character (${c}) that is not a non-NUL Latin-1 byte`);
    out[i] = c;
  }
  return out;
}

function cString(bytes: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && bytes[end] !== 0) end++;
  return latin1(bytes.subarray(at, end));
}

export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function ipAt(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

export function ipToString(b: Uint8Array): string {
  return ipAt(b, 0);
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Dotted quad → 4 bytes; anything else is a programming error in a reply builder. */
export function ipBytes(ip: string): Uint8Array {
  const m = DOTTED.exec(ip);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) throw new EncodeError(`not an IPv4 address: ${ip}`);
  return Uint8Array.from(parts);
}

function concat(list: Uint8Array[]): Uint8Array {
  if (list.length === 1) return list[0]!;
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The first value of an option, or undefined. */
export function getOption(pkt: DhcpPacket, code: number): Uint8Array | undefined {
  return pkt.options.find((o) => o.code === code)?.data;
}
