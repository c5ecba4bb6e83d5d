/**
 * The "newc" cpio format the Linux kernel unpacks as an initramfs (kernel
 * Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header
 * (`070701` and thirteen 8-digit hex fields), the NUL-terminated name, padding to 4 bytes, the data,
 * padding to 4 bytes; the archive ends with an entry named `TRAILER!!!`.
 *
 * Written here rather than with cpio(1) so that device nodes (`/dev/console`) need no root and no
 * mknod, and so that the archive is byte-for-byte reproducible (mtime 0, owner root).
 * Pure functions over bytes.
 */

export type CpioEntry =
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; major: number; minor: number; mode?: number };

/** File-type bits of st_mode (sys/stat.h). */
export const S_IF = { dir: 0o040000, char: 0o020000, file: 0o100000, symlink: 0o120000, mask: 0o170000 } as const;

const MAGIC = '070701';
const HEADER_BYTES = 110;
const TRAILER = 'TRAILER!!!';
const FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'] as const;
type Header = Record<(typeof FIELDS)[number], number>;

export class CpioError extends Error {
  override name = 'CpioError';
}

/** Encodes entries, in order, as one newc archive (uncompressed). Paths are stored without a leading `/`. */
export function encodeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const text = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    size += b.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      chunks.push(new Uint8Array(pad));
      size += pad;
    }
  };
  const put = (h: Partial<Header>, name: string, data: Uint8Array) => {
    const nameBytes = text.encode(`${name}\0`);
    const full: Header = { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: data.length, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, namesize: nameBytes.length, check: 0, ...h };
    let header = MAGIC;
    for (const f of FIELDS) {
      const v = full[f];
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new CpioError(`${name}: ${f} ${v} does not fit 8 hex digits`);
      header += v.toString(16).padStart(8, '0');
    }
    // The name follows the header directly; the padding after it counts from the header's start.
    const head = new Uint8Array(HEADER_BYTES + nameBytes.length);
    head.set(text.encode(header));
    head.set(nameBytes, HEADER_BYTES);
    push(head);
    if (data.length) push(data);
  };

  let ino = 0;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (!name || name === TRAILER) throw new CpioError(`bad entry path ${JSON.stringify(e.path)}`);
    ino++;
    switch (e.type) {
      case 'file':
        put({ ino, mode: S_IF.file | (e.mode ?? 0o644) }, name, e.data);
        break;
      case 'dir':
        put({ ino, mode: S_IF.dir | (e.mode ?? 0o755), nlink: 2 }, name, new Uint8Array());
        break;
      case 'symlink':
        put({ ino, mode: S_IF.symlink | 0o777 }, name, text.encode(e.target));
        break;
      case 'char':
        put({ ino, mode: S_IF.char | (e.mode ?? 0o600), rdevmajor: e.major, rdevminor: e.minor }, name, new Uint8Array());
        break;
    }
  }
  put({ nlink: 1 }, TRAILER, new Uint8Array());
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Decodes a newc archive (uncompressed) back into entries, stopping at the trailer. */
export function decodeCpio(bytes: Uint8Array): CpioEntry[] {
  const text = new TextDecoder();
  const entries: CpioEntry[] = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    if (at + HEADER_BYTES > bytes.length) throw new CpioError(`header at ${at} claims ${HEADER_BYTES} bytes, ${bytes.length - at} left (no trailer)`);
    const header = text.decode(bytes.subarray(at, at + HEADER_BYTES));
    if (!header.startsWith(MAGIC)) throw new CpioError(`bad magic ${JSON.stringify(header.slice(0, 6))} at ${at}`);
    const h = {} as Header;
    FIELDS.forEach((f, i) => {
      const hex = header.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new CpioError(`field ${f} at ${at} is not hex: ${JSON.stringify(hex)}`);
      h[f] = parseInt(hex, 16);
    });
    const nameEnd = at + HEADER_BYTES + h.namesize;
    if (h.namesize < 1 || nameEnd > bytes.length) throw new CpioError(`name at ${at} claims ${h.namesize} bytes, ${bytes.length - at - HEADER_BYTES} left`);
    const name = text.decode(bytes.subarray(at + HEADER_BYTES, nameEnd - 1));
    const dataStart = align(nameEnd);
    const dataEnd = dataStart + h.filesize;
    if (dataEnd > bytes.length) throw new CpioError(`${name}: data claims ${h.filesize} bytes, ${bytes.length - dataStart} left`);
    if (name === TRAILER) return entries;
    const data = bytes.slice(dataStart, dataEnd);
    const perm = h.mode & 0o7777;
    switch (h.mode & S_IF.mask) {
      case S_IF.file:
        entries.push({ type: 'file', path: name, data, mode: perm });
        break;
      case S_IF.dir:
        entries.push({ type: 'dir', path: name, mode: perm });
        break;
      case S_IF.symlink:
        entries.push({ type: 'symlink', path: name, target: text.decode(data) });
        break;
      case S_IF.char:
        entries.push({ type: 'char', path: name, major: h.rdevmajor, minor: h.rdevminor, mode: perm });
        break;
      default:
        throw new CpioError(`${name}: unsupported file type 0o${(h.mode & S_IF.mask).toString(8)}`);
    }
    at = align(dataEnd);
  }
}
