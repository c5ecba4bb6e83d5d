import { MAX_MESSAGE_TYPE, OPT, optionSpec, type OptionSpec } from './options.ts';

/**
 * DHCPv4 packets as bytes (RFC 2131 §2, RFC 2132, RFC 3396), pure: no sockets, no clock, no logging.
 *
 * Liberal in what it accepts, strict in what it uses (issue 14). Everything arriving on UDP 67/4011 is
 * untrusted, and the relay answers firmware, not people; but firmware and relay agents get options
 * wrong in ways that leave the request perfectly clear, and dnsmasq answers those. So:
 *
 * - The packet is dropped (DecodeError, with a fixed `reason` for the drop counter) only when the relay
 *   could not say what it is answering: a header outside the limits below, or an option whose fault
 *   costs the packet (options.ts `onFault: 'packet'`: 53, 54, 50 — a message type cut, empty, out of
 *   range or ambiguous; a server id or requested address that cannot be read).
 * - Any other fault costs that option only: it is dropped, or cut to its whole part, and recorded in
 *   `faults` as `{ code, reason }` (FaultReason) so the server can count it. Getters then see either a
 *   well-formed value or nothing, and "nothing" is safe for each of them (classify.ts: no 60 → no
 *   answer; no 97 → none echoed; no 57 → replies ≤ 576 bytes).
 *
 * Rules, each the reading dnsmasq or the RFCs give where the value is still unambiguous:
 * - Repeated codes are concatenated (RFC 3396 §7, options area, then file, then sname): the standard
 *   meaning, not a fault. Empty instances contribute nothing. A fixed-size option (53, 57, 97 …) sent
 *   twice with the same value reads as that value (`repeated`, kept); with different values it is
 *   ambiguous and dropped (`bad-length`).
 * - Zero-length: unknown codes keep their empty value (some options are flags); a known option that
 *   needs bytes is dropped (`zero-length`).
 * - Lists (routers, option 93's architectures) with a torn last entry keep their whole entries
 *   (`torn-list`); the preferred entry comes first (RFC 4578 §2.1), so it is the one that is whole.
 * - An option whose length runs past its area is dropped with whatever follows in that area
 *   (`truncated`); the options before it stand. A main area without END is accepted (`no-end`).
 * - Option 52 (RFC 2131 §4.1, RFC 2132 §9.3): options continue in `file` then `sname`, read as option
 *   areas (END optional there). A 52 that cannot be read is dropped (`bad-length`/`bad-value`) and both
 *   fields read as strings; a 52 inside an overloaded field is ignored (`misplaced`).
 * - Encapsulated options 43 and 175 keep the sub-options before the first one that overruns (nothing
 *   whole: the option is dropped); 82 keeps its raw bytes whatever they hold, because a server echoes it
 *   unmodified (RFC 3046 §2.2) and it is the relay agent's to read, not ours (`sub-options`).
 * - At most 128 option entries (pads not counted) over all areas; the rest is not read (`too-many`).
 *
 * Header limits (a packet outside them is dropped):
 * - size: 240 bytes (BOOTP header + magic cookie) to 1472 (an Ethernet MTU minus IP and UDP headers;
 *   iPXE advertises exactly that in option 57, and no firmware sends fragments);
 * - op 1 or 2; hops ≤ 16 (RFC 1542 §4.1.1: relays discard above their limit, 16 is the customary
 *   maximum); the magic cookie 99.130.83.99;
 * - hlen ≤ 16 (the chaddr field); Ethernet (htype 1) has hlen 6 and a unicast station address in chaddr
 *   (not all zeros, group bit clear): a reply to anything else would go to no one, or to everyone.
 * A packet with no option 53 at all is BOOTP: it decodes, and the responder ignores it (counted).
 *
 * What a decoded packet holds: every header field, options in order of first appearance (52 excepted),
 * sname/file up to their first NUL (empty when overloaded). Its byte values (`chaddr`, option data) are
 * views into the bytes decoded, not copies, except where instances had to be joined: do not reuse that
 * buffer while the packet is in use (Node gives each datagram its own). `encodeDhcp` never overloads.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
  /** A short fixed code for the drop counter (a metrics label: never a value taken from the packet). */
  readonly reason: DropReason;
  constructor(message: string, reason: DropReason = 'malformed') {
    super(message);
    this.reason = reason;
  }
}

/** Why a packet was dropped: its header, or an option without which the relay cannot answer. */
export type DropReason = 'size' | 'op' | 'hardware' | 'hops' | 'cookie' | 'message-type' | 'server-id' | 'requested-address' | 'malformed';

/** A packet the encoder refuses to write (a value too long for its field, too big for the client). */
export class EncodeError extends Error {
  override name = 'EncodeError';
}

/**
 * What was wrong with one option (or, for `no-end`, the area: code 255). The option is dropped unless
 * the reason says it is kept: `repeated` and `torn-list` keep the part that is whole, `sub-options`
 * keeps 43/175's whole sub-options and all of 82, `zero-length` keeps 82.
 */
export type FaultReason = 'zero-length' | 'bad-length' | 'bad-value' | 'repeated' | 'torn-list' | 'truncated' | 'no-end' | 'sub-options' | 'misplaced' | 'too-many';

export interface DecodeFault {
  code: number;
  reason: FaultReason;
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
  /** Set by the decoder only when an option was faulty (see FaultReason); the server counts them. */
  faults?: DecodeFault[];
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
const ZERO_IP = '0.0.0.0';

/** Bytes of the fixed-size wire types; lists are multiples of their entry size. */
const FIXED_SIZE: Partial<Record<OptionSpec['wire'], number>> = { u8: 1, u16: 2, u32: 4, ip: 4, undi: 3, guid: 17 };
const ENTRY_SIZE: Partial<Record<OptionSpec['wire'], number>> = { ips: 4, u16s: 2 };

/**
 * Decoding state. `slot[code]` is 1 + the index of that code's option in `options`, for joining
 * repeats; decoding is synchronous, so one table serves every call and is cleared before it returns.
 */
const slot = new Uint8Array(256);
interface State {
  bytes: Uint8Array;
  options: DhcpOption[];
  /** code → every instance, only for codes that came more than once. */
  parts: Map<number, Uint8Array[]> | null;
  overload: Uint8Array[] | null;
  faults: DecodeFault[] | null;
  entries: number;
}

export function decodeDhcp(bytes: Uint8Array): DhcpPacket {
  const n = bytes.length;
  if (n < MIN_PACKET) throw new DecodeError(`packet is ${n} bytes, a DHCP packet has at least ${MIN_PACKET}`, 'size');
  if (n > MAX_PACKET) throw new DecodeError(`packet is ${n} bytes, more than the ${MAX_PACKET} accepted`, 'size');
  const op = bytes[0]!;
  if (op !== 1 && op !== 2) throw new DecodeError(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`, 'op');
  const htype = bytes[1]!;
  const hlen = bytes[2]!;
  if (hlen > 16) throw new DecodeError(`hlen ${hlen} exceeds the 16-byte chaddr field`, 'hardware');
  if (htype === 1) {
    if (hlen !== 6) throw new DecodeError(`hlen ${hlen} for Ethernet (htype 1), which has 6`, 'hardware');
    if ((bytes[28]! | bytes[29]! | bytes[30]! | bytes[31]! | bytes[32]! | bytes[33]!) === 0) throw new DecodeError('chaddr is all zeros', 'hardware');
    if (bytes[28]! & 1) throw new DecodeError('chaddr is a group (multicast or broadcast) address', 'hardware');
  }
  const hops = bytes[3]!;
  if (hops > MAX_HOPS) throw new DecodeError(`hops ${hops} exceeds ${MAX_HOPS}`, 'hops');
  const cookie = u32At(bytes, BOOTP_HEADER);
  if (cookie !== MAGIC_COOKIE) throw new DecodeError(`magic cookie is 0x${cookie.toString(16).padStart(8, '0')}, not 0x63825363`, 'cookie');

  const st: State = { bytes, options: [], parts: null, overload: null, faults: null, entries: 0 };
  let sname: string;
  let file: string;
  try {
    const end = readArea(st, MIN_PACKET, n, true);
    if (end === 'none') fault(st, 255, 'no-end');
    const overload = overloadValue(st);
    // RFC 2131 §4.1: the file field is read before sname. Past the entry cap, neither is read.
    let capped = end === 'full';
    if (overload & 1 && !capped) capped = readArea(st, FILE_AT, FILE_AT + FILE_LEN, false) === 'full';
    if (overload & 2 && !capped) readArea(st, SNAME_AT, SNAME_AT + SNAME_LEN, false);
    file = overload & 1 ? '' : cString(bytes, FILE_AT, FILE_LEN);
    sname = overload & 2 ? '' : cString(bytes, SNAME_AT, SNAME_LEN);
    if (st.parts) join(st);
  } finally {
    for (const o of st.options) slot[o.code] = 0;
  }
  const options = settle(st);

  const p: DhcpPacket = {
    op,
    htype,
    hlen,
    hops,
    xid: u32At(bytes, 4),
    secs: (bytes[8]! << 8) | bytes[9]!,
    flags: (bytes[10]! << 8) | bytes[11]!,
    ciaddr: ipAt(bytes, 12),
    yiaddr: ipAt(bytes, 16),
    siaddr: ipAt(bytes, 20),
    giaddr: ipAt(bytes, 24),
    chaddr: bytes.subarray(28, 44),
    sname,
    file,
    options,
  };
  if (st.faults) p.faults = st.faults;
  return p;
}

function fault(st: State, code: number, reason: FaultReason): void {
  (st.faults ??= []).push({ code, reason });
}

/**
 * Reads one option area into `st`. Returns 'end' at END, 'none' when the area ran out without it (the
 * caller decides whether that matters), 'cut' after an option that overruns the area (recorded; the
 * rest of the area cannot be framed), 'full' once the entry cap is reached.
 */
function readArea(st: State, start: number, end: number, main: boolean): 'end' | 'none' | 'cut' | 'full' {
  const b = st.bytes;
  let i = start;
  while (i < end) {
    const code = b[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) return 'end';
    if (i + 1 >= end || i + 2 + b[i + 1]! > end) {
      fault(st, code, 'truncated');
      return 'cut';
    }
    if (++st.entries > MAX_OPTIONS) {
      fault(st, code, 'too-many');
      return 'full';
    }
    const at = i + 2;
    i = at + b[i + 1]!;
    const data = b.subarray(at, i);
    if (code === OPT.overload) {
      if (main) (st.overload ??= []).push(data);
      else fault(st, code, 'misplaced');
      continue;
    }
    const k = slot[code]!;
    if (k === 0) {
      st.options.push({ code, data });
      slot[code] = st.options.length;
      continue;
    }
    const parts = (st.parts ??= new Map());
    const list = parts.get(code);
    if (list) list.push(data);
    else parts.set(code, [st.options[k - 1]!.data, data]);
  }
  return 'none';
}

/** Option 52's value (1 file, 2 sname, 3 both), or 0 when absent or unreadable (recorded). */
function overloadValue(st: State): number {
  const parts = st.overload;
  if (!parts) return 0;
  const v = fixedValue(st, OPT.overload, concat(parts), parts, 1);
  if (!v) return 0;
  const o = v[0]!;
  if (o >= 1 && o <= 3) return o;
  fault(st, OPT.overload, 'bad-value');
  return 0;
}

/** RFC 3396 §7: every instance of a code, in the order read, as one value. */
function join(st: State): void {
  for (const [code, list] of st.parts!) {
    const o = st.options.find((x) => x.code === code)!;
    o.data = concat(list);
  }
}

/**
 * Checks every option of the table against its wire type (options.ts), so getters read them without
 * checks; drops or cuts the faulty ones, and throws where the fault costs the packet.
 */
function settle(st: State): DhcpOption[] {
  const out = st.options;
  let w = 0;
  for (let r = 0; r < out.length; r++) {
    const o = out[r]!;
    const spec = optionSpec(o.code);
    const data = spec ? checked(st, o.code, o.data, spec) : o.data;
    if (data === null) {
      if (spec!.onFault === 'packet') throw packetFault(o.code, st);
      continue;
    }
    o.data = data;
    out[w++] = o;
  }
  out.length = w;
  // A fault recorded while reading (a cut or capped instance of 53/54/50) also leaves its value unknown.
  for (const f of st.faults ?? []) {
    if ((f.reason === 'truncated' || f.reason === 'too-many') && optionSpec(f.code)?.onFault === 'packet') throw packetFault(f.code, st);
  }
  const t = out.find((o) => o.code === OPT.messageType)?.data[0];
  if (t !== undefined && (t < 1 || t > MAX_MESSAGE_TYPE)) throw new DecodeError(`option 53 message type ${t} is not a DHCP message type`, 'message-type');
  return out;
}

function packetFault(code: number, st: State): DecodeError {
  const f = st.faults?.find((x) => x.code === code);
  const reason: DropReason = code === OPT.messageType ? 'message-type' : code === OPT.serverId ? 'server-id' : 'requested-address';
  return new DecodeError(`option ${code} (${optionSpec(code)!.name}) cannot be read: ${f?.reason ?? 'faulty'}`, reason);
}

/** The value to keep for a table option, or null to drop it; records the fault either way. */
function checked(st: State, code: number, data: Uint8Array, spec: OptionSpec): Uint8Array | null {
  const n = data.length;
  const size = FIXED_SIZE[spec.wire];
  if (size !== undefined) return fixedValue(st, code, data, st.parts?.get(code), size);
  if (n === 0 && spec.onFault !== 'keep' && (spec.wire !== 'bytes' || spec.min)) {
    fault(st, code, 'zero-length');
    return null;
  }
  const entry = ENTRY_SIZE[spec.wire];
  if (entry !== undefined && n % entry !== 0) {
    // RFC 4578 §2.1 and RFC 2132 lists: the entries before the torn one are whole and in the client's order.
    fault(st, code, n < entry ? 'bad-length' : 'torn-list');
    return n < entry ? null : data.subarray(0, n - (n % entry));
  }
  if (spec.min !== undefined && n < spec.min) {
    fault(st, code, 'bad-length');
    return null;
  }
  if (spec.wire === 'tlv') {
    if (n === 0) {
      fault(st, code, 'zero-length'); // only 82 gets here: kept, echoed as received
      return data;
    }
    const whole = forEachSubOption(code, data, noop);
    if (whole === n) return data;
    fault(st, code, 'sub-options');
    if (spec.onFault === 'keep') return data;
    return whole === 0 ? null : data.subarray(0, whole);
  }
  return data;
}

/**
 * A fixed-size value. Instances joined to the right size are fine (RFC 3396 allows splitting any option);
 * instances that are each the whole value and all alike are that value (a client or relay agent that
 * wrote it twice: unambiguous); anything else cannot be read.
 */
function fixedValue(st: State, code: number, data: Uint8Array, parts: Uint8Array[] | undefined, size: number): Uint8Array | null {
  if (data.length === size) return data;
  if (data.length === 0) {
    fault(st, code, 'zero-length');
    return null;
  }
  if (parts) {
    let first: Uint8Array | null = null;
    let alike = true;
    for (const p of parts) {
      if (p.length === 0) continue;
      if (p.length !== size || (first && !equal(first, p))) {
        alike = false;
        break;
      }
      first ??= p;
    }
    if (alike && first) {
      fault(st, code, 'repeated');
      return first;
    }
  }
  fault(st, code, 'bad-length');
  return null;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const noop = () => {};

/**
 * Walks code/length/value sub-options (RFC 3046 §2.0, PXE 2.1 §2.4, iPXE's 175), skipping pads (0) and
 * stopping at END (255). Returns how many bytes from the start are well framed: `data.length` when all
 * are (or up to END), else the offset of the first sub-option that has no length byte or overruns —
 * neither it nor anything after it is visited. Never throws: a fault costs the sub-options it touches.
 */
export function forEachSubOption(_code: number, data: Uint8Array, visit: (sub: number, value: Uint8Array) => void): number {
  let i = 0;
  const n = data.length;
  while (i < n) {
    const sub = data[i]!;
    if (sub === 0) {
      i++;
      continue;
    }
    if (sub === 255) return n;
    if (i + 1 >= n || i + 2 + data[i + 1]! > n) return i;
    visit(sub, data.subarray(i + 2, i + 2 + data[i + 1]!));
    i += 2 + data[i + 1]!;
  }
  return n;
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
 * consecutive instances of the same code (RFC 3396 §6). The size is computed first and every field is
 * written straight into the one buffer returned: no intermediate arrays, strings or copies.
 */
export function encodeDhcp(pkt: DhcpPacket, opts: EncodeOptions = {}): Uint8Array {
  const minSize = opts.minSize ?? (pkt.op === 2 ? MIN_REPLY : 0);
  const maxSize = opts.maxSize ?? MAX_PACKET;
  let optLen = 1;
  for (const o of pkt.options) {
    const c = o.code;
    if (c === 0 || c === 255) throw new EncodeError(`option ${c} is a marker, not an option`);
    if (!Number.isInteger(c) || c < 0 || c > 255) throw new EncodeError(`option code ${c} is not a byte`);
    const len = o.data.length;
    optLen += len + 2 * (len === 0 ? 1 : Math.ceil(len / 255));
  }
  const size = Math.max(MIN_PACKET + optLen, minSize);
  if (size > maxSize) throw new EncodeError(`packet would be ${size} bytes, more than ${maxSize}`);
  if (pkt.chaddr.length > 16) throw new EncodeError(`chaddr is ${pkt.chaddr.length} bytes, the field holds 16`);

  const out = new Uint8Array(size);
  out[0] = byteField('op', pkt.op);
  out[1] = byteField('htype', pkt.htype);
  out[2] = byteField('hlen', pkt.hlen);
  out[3] = byteField('hops', pkt.hops);
  putU32(out, 4, pkt.xid >>> 0);
  out[8] = (pkt.secs >>> 8) & 0xff;
  out[9] = pkt.secs & 0xff;
  out[10] = (pkt.flags >>> 8) & 0xff;
  out[11] = pkt.flags & 0xff;
  writeIp(out, 12, pkt.ciaddr);
  writeIp(out, 16, pkt.yiaddr);
  writeIp(out, 20, pkt.siaddr);
  writeIp(out, 24, pkt.giaddr);
  out.set(pkt.chaddr, 28);
  writeFixedString(out, SNAME_AT, 'sname', pkt.sname, SNAME_LEN);
  writeFixedString(out, FILE_AT, 'file', pkt.file, FILE_LEN);
  putU32(out, BOOTP_HEADER, MAGIC_COOKIE);
  let i = MIN_PACKET;
  // Three passes over a handful of options rather than three filtered copies of the list.
  for (const o of pkt.options) if (o.code === OPT.messageType) i = writeOption(out, i, o);
  for (const o of pkt.options) if (o.code !== OPT.messageType && o.code !== OPT.relayAgentInfo) i = writeOption(out, i, o);
  for (const o of pkt.options) if (o.code === OPT.relayAgentInfo) i = writeOption(out, i, o);
  out[i] = 255;
  return out;
}

function writeOption(out: Uint8Array, i: number, o: DhcpOption): number {
  const d = o.data;
  let at = 0;
  do {
    const len = Math.min(255, d.length - at);
    out[i++] = o.code;
    out[i++] = len;
    out.set(len === d.length ? d : d.subarray(at, at + len), i);
    i += len;
    at += 255;
  } while (at < d.length);
  return i;
}

function byteField(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new EncodeError(`${name} ${n} is not a byte`);
  return n;
}

function putU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

function u32At(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** A NUL-terminated field: at most len − 1 bytes of Latin-1 so a terminator always fits (the rest stays zero). */
function writeFixedString(out: Uint8Array, at: number, name: string, s: string, len: number): void {
  if (s.length > len - 1) throw new EncodeError(`${name} is ${s.length} bytes, the field holds ${len - 1} and a NUL`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0xff) throw new EncodeError(`${name} has a character (${c}) that is not a non-NUL Latin-1 byte`);
    out[at + i] = c;
  }
}

function cString(bytes: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && bytes[end] !== 0) end++;
  return end === at ? '' : latin1(bytes, at, end);
}

/*
 * Text from packet bytes, made in one native step into one string. Built a character at a time, a
 * 32-byte vendor class was 32 strings of growing length (~900 bytes of garbage per request) and a MAC
 * a dozen: under a storm that was a young-generation collection every ~100 packets (issue 18).
 * Buffer's latin1Slice and hexSlice read any Uint8Array (they check for an ArrayBufferView, not a
 * Buffer), so no Buffer view is made per call; the fallbacks keep the codec working where they are absent.
 */
const nativeLatin1 = (Buffer.prototype as { latin1Slice?: (start: number, end: number) => string }).latin1Slice;
const nativeHex = (Buffer.prototype as { hexSlice?: (start: number, end: number) => string }).hexSlice;

/** Bytes `start`..`end` as Latin-1 (one character per byte). */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (nativeLatin1) return nativeLatin1.call(bytes, start, end);
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

/** Bytes `start`..`end` as lower-case hex. */
export function hex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (nativeHex) return nativeHex.call(bytes, start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('hex');
}

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** The colon form's bytes, rewritten for each MAC: `xx:xx:xx:xx:xx:xx`. */
const macScratch = Uint8Array.from('00:00:00:00:00:00', (c) => c.charCodeAt(0));

/** The first six bytes as a lower-case colon-separated MAC. */
export function macText(bytes: Uint8Array): string {
  for (let i = 0; i < 6; i++) {
    const b = bytes[i]!;
    macScratch[3 * i] = HEX_DIGITS[b >> 4]!;
    macScratch[3 * i + 1] = HEX_DIGITS[b & 15]!;
  }
  return latin1(macScratch);
}

function ipAt(bytes: Uint8Array, at: number): string {
  const a = bytes[at]!;
  const b = bytes[at + 1]!;
  const c = bytes[at + 2]!;
  const d = bytes[at + 3]!;
  return (a | b | c | d) === 0 ? ZERO_IP : `${a}.${b}.${c}.${d}`;
}

export function ipToString(b: Uint8Array): string {
  return ipAt(b, 0);
}

/**
 * Writes a dotted quad at `at`; anything but four decimal parts of 1–3 digits, each ≤ 255, is a
 * programming error in a reply builder. Parsed by hand: a regex and four Number() calls per address
 * were a fifth of an OFFER's encoding time.
 */
function writeIp(out: Uint8Array, at: number, ip: string): void {
  if (ip === ZERO_IP) return; // the buffer is zeroed
  let part = 0;
  let digits = 0;
  let k = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46;
    if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + c - 48;
      digits++;
    } else if (c === 46 && digits > 0 && part <= 255 && k < 4) {
      out[at + k++] = part;
      part = 0;
      digits = 0;
    } else {
      k = -1;
      break;
    }
  }
  if (k !== 4) throw new EncodeError(`not an IPv4 address: ${ip}`);
}

/** Dotted quad → 4 bytes; anything else is a programming error in a reply builder. */
export function ipBytes(ip: string): Uint8Array {
  const out = new Uint8Array(4);
  writeIp(out, 0, ip);
  return out;
}

function concat(list: Uint8Array[]): Uint8Array {
  if (list.length === 1) return list[0]!;
  let n = 0;
  for (const p of list) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The value of an option (instances already joined by the decoder), or undefined. */
export function getOption(pkt: DhcpPacket, code: number): Uint8Array | undefined {
  const opts = pkt.options;
  for (let i = 0; i < opts.length; i++) if (opts[i]!.code === code) return opts[i]!.data;
  return undefined;
}
