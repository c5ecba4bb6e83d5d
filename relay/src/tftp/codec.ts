/**
 * TFTP packets as bytes (RFC 1350; options RFC 2347, blksize RFC 2348, timeout and tsize RFC 2349,
 * windowsize RFC 7440), pure: no sockets, no clock, no logging.
 *
 * Decoding is strict about framing, because everything on UDP 69 is untrusted: any fault throws a
 * DecodeError naming it. Option *values* are not framing: `requestOptions` keeps the known options
 * with a usable value and ignores the rest (RFC 2347 §3: a server omits what it does not accept), so a
 * client asking for `blksize=4` still gets its file at 512 bytes instead of an error.
 *
 * Strings are decoded as latin1 so that every byte survives as one char: the path policy
 * (content.ts) must see a non-ASCII or control byte to refuse it, not a U+FFFD replacement.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 §5 error codes, plus 8 (RFC 2347: option negotiation refused). */
export const ERROR_CODE = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** RFC 2348: 8 to 65464 (65464 + 4 + 8 + 20 fills a 65535-byte IPv4 datagram). */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
/** RFC 2349: whole seconds. */
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 255;
/** RFC 7440. */
export const WINDOWSIZE_MIN = 1;
export const WINDOWSIZE_MAX = 65535;

/**
 * A request's option list is at most what fits one packet; more than this many pairs is an attack,
 * not a client (RFC 2347 clients send four or five).
 */
export const MAX_OPTIONS = 32;
/** RFC 1350 does not bound a request; 512 bytes is the classic limit (RFC 2347 §2 keeps it). A
 * larger request is accepted up to what a datagram holds, but never more option pairs than above. */
export const MAX_PACKET = 65507;

export interface RequestPacket {
  op: 'rrq' | 'wrq';
  filename: string;
  /** Lower-cased: `octet`, `netascii` or `mail`. */
  mode: string;
  /** Option names lower-cased (RFC 2347: case-insensitive), values as sent, in order. */
  options: Array<[string, string]>;
}
export interface DataPacket {
  op: 'data';
  block: number;
  data: Uint8Array;
}
export interface AckPacket {
  op: 'ack';
  block: number;
}
export interface ErrorPacket {
  op: 'error';
  code: number;
  message: string;
}
export interface OackPacket {
  op: 'oack';
  options: Array<[string, string]>;
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

const MODES = new Set(['octet', 'netascii', 'mail']);

export function decodeTftp(bytes: Uint8Array): TftpPacket {
  if (bytes.length < 2) throw new DecodeError(`packet of ${bytes.length} bytes is shorter than an opcode`);
  if (bytes.length > MAX_PACKET) throw new DecodeError(`packet of ${bytes.length} bytes exceeds ${MAX_PACKET}`);
  const op = (bytes[0]! << 8) | bytes[1]!;
  switch (op) {
    case OPCODE.RRQ:
    case OPCODE.WRQ:
      return decodeRequest(bytes, op === OPCODE.RRQ ? 'rrq' : 'wrq');
    case OPCODE.DATA:
      if (bytes.length < 4) throw new DecodeError(`DATA of ${bytes.length} bytes has no block number`);
      return { op: 'data', block: u16(bytes, 2), data: bytes.subarray(4) };
    case OPCODE.ACK:
      if (bytes.length !== 4) throw new DecodeError(`ACK must be 4 bytes, got ${bytes.length}`);
      return { op: 'ack', block: u16(bytes, 2) };
    case OPCODE.ERROR: {
      if (bytes.length < 5) throw new DecodeError(`ERROR of ${bytes.length} bytes has no code and message`);
      const [message, end] = cstring(bytes, 4, 'error message');
      if (end !== bytes.length) throw new DecodeError(`ERROR has ${bytes.length - end} bytes after its message`);
      return { op: 'error', code: u16(bytes, 2), message };
    }
    case OPCODE.OACK:
      return { op: 'oack', options: decodeOptions(bytes, 2) };
    default:
      throw new DecodeError(`unknown opcode ${op}`);
  }
}

function decodeRequest(bytes: Uint8Array, op: 'rrq' | 'wrq'): RequestPacket {
  const [filename, afterName] = cstring(bytes, 2, 'filename');
  if (filename.length === 0) throw new DecodeError('empty filename');
  const [rawMode, afterMode] = cstring(bytes, afterName, 'mode');
  const mode = rawMode.toLowerCase();
  if (!MODES.has(mode)) throw new DecodeError(`unknown mode ${JSON.stringify(rawMode.slice(0, 32))}`);
  return { op, filename, mode, options: decodeOptions(bytes, afterMode) };
}

function decodeOptions(bytes: Uint8Array, from: number): Array<[string, string]> {
  const options: Array<[string, string]> = [];
  let at = from;
  while (at < bytes.length) {
    if (options.length === MAX_OPTIONS) throw new DecodeError(`more than ${MAX_OPTIONS} options`);
    const [name, afterName] = cstring(bytes, at, `option ${options.length + 1} name`);
    if (name.length === 0) throw new DecodeError(`option ${options.length + 1} has an empty name`);
    const [value, afterValue] = cstring(bytes, afterName, `option ${JSON.stringify(name.slice(0, 32))} value`);
    options.push([name.toLowerCase(), value]);
    at = afterValue;
  }
  return options;
}

/** A NUL-terminated latin1 string at `from`; returns it and the offset after its NUL. */
function cstring(bytes: Uint8Array, from: number, what: string): [string, number] {
  if (from >= bytes.length) throw new DecodeError(`${what} missing at byte ${from}`);
  const nul = bytes.indexOf(0, from);
  if (nul < 0) throw new DecodeError(`${what} at byte ${from} has no terminating NUL`);
  return [latin1(bytes, from, nul), nul + 1];
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** The options of a request the server understands, with values that parse; the rest ignored. */
export interface RequestOptions {
  blksize?: number;
  timeout?: number;
  /** RFC 2349: a client sends 0 in an RRQ and reads the real size from the OACK. */
  tsize?: number;
  windowsize?: number;
}

/**
 * Known options with a usable value. Out-of-range values: blksize and windowsize above the RFC maximum
 * are clamped to it (the server may answer a smaller value, RFC 2348 §2, RFC 7440 §3); below the
 * minimum, or a timeout outside 1–255 (which the server must echo exactly or omit, RFC 2349), the option
 * is ignored. A repeated option keeps its first occurrence.
 */
export function requestOptions(options: ReadonlyArray<readonly [string, string]>): RequestOptions {
  const out: RequestOptions = {};
  for (const [name, value] of options) {
    if (!/^[0-9]{1,10}$/.test(value)) continue;
    const n = Number(value);
    if (name === 'blksize' && out.blksize === undefined && n >= BLKSIZE_MIN) out.blksize = Math.min(n, BLKSIZE_MAX);
    else if (name === 'windowsize' && out.windowsize === undefined && n >= WINDOWSIZE_MIN) out.windowsize = Math.min(n, WINDOWSIZE_MAX);
    else if (name === 'timeout' && out.timeout === undefined && n >= TIMEOUT_MIN && n <= TIMEOUT_MAX) out.timeout = n;
    else if (name === 'tsize' && out.tsize === undefined) out.tsize = n;
  }
  return out;
}

// Encoders.

export function encodeDataHeader(block: number): Buffer {
  return opAndBlock(OPCODE.DATA, block);
}

export function encodeData(block: number, data: Uint8Array): Buffer {
  return Buffer.concat([encodeDataHeader(block), data]);
}

/**
 * DATA packets for consecutive blocks, built back to back in one buffer: packet i (block
 * `firstBlock + i`, rolled over to 16 bits) is `blksize` bytes of `payload` from `i × blksize`
 * (the last one shorter, possibly empty) behind its 4-byte header, and starts at `i × (4 + blksize)`.
 * A server sends each as a view of one buffer: one contiguous datagram, no header buffer, no
 * buffer list per block (dgram's `send([header, payload])` measured ~0.3 µs more per send).
 * An empty payload gives one empty DATA (the end of a file whose size is a multiple of blksize).
 * Written into `into` when it is large enough (the caller knows nothing still points into it), else
 * into a new buffer; returns the bytes written.
 */
export function encodeDataRun(firstBlock: number, blksize: number, payload: Uint8Array, into?: Buffer): Buffer {
  const count = Math.max(1, Math.ceil(payload.length / blksize));
  const length = count * 4 + payload.length;
  const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafeSlow(length);
  for (let i = 0; i < count; i++) {
    const at = i * (4 + blksize);
    const from = i * blksize;
    out.writeUInt16BE(OPCODE.DATA, at);
    out.writeUInt16BE((firstBlock + i) & 0xffff, at + 2);
    out.set(payload.subarray(from, Math.min(from + blksize, payload.length)), at + 4);
  }
  return out;
}

export function encodeAck(block: number): Buffer {
  return opAndBlock(OPCODE.ACK, block);
}

/** Block numbers are 16 bits on the wire: a caller counting past 65535 gets the rolled-over number. */
function opAndBlock(op: number, block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(op, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeError(code: number, message: string): Buffer {
  return Buffer.concat([u16Buf(OPCODE.ERROR), u16Buf(code), Buffer.from(message, 'latin1'), ZERO]);
}

export function encodeOack(options: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat([u16Buf(OPCODE.OACK), ...options.flatMap(([k, v]) => [Buffer.from(k, 'latin1'), ZERO, Buffer.from(v, 'latin1'), ZERO])]);
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode = 'octet', options: ReadonlyArray<readonly [string, string]> = []): Buffer {
  const parts = [u16Buf(op === 'rrq' ? OPCODE.RRQ : OPCODE.WRQ), Buffer.from(filename, 'latin1'), ZERO, Buffer.from(mode, 'latin1'), ZERO];
  for (const [k, v] of options) parts.push(Buffer.from(k, 'latin1'), ZERO, Buffer.from(v, 'latin1'), ZERO);
  return Buffer.concat(parts);
}

const ZERO = Buffer.from([0]);

function u16Buf(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
}
