import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync, readSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ERROR_CODE } from './codec.ts';

/**
 * Where the TFTP server's bytes come from. `open` is synchronous on purpose: a boot file is opened
 * once per transfer from local disk (microseconds), and a synchronous read of a block already in the
 * page cache is cheaper than a thread-pool round trip per window.
 */
export interface Content {
  readonly size: number;
  /** `length` bytes at `offset`; the transfer never asks past `size`. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
  /** Where the bytes are, for the native data path (pump.ts): all of them in memory, or an open file. */
  readonly bytes?: Uint8Array;
  readonly fd?: number;
}

export type Refusal = 'bad-name' | 'not-found' | 'outside-root' | 'not-a-file';

export type OpenResult = { ok: true; content: Content } | { ok: false; reason: Refusal; code: number; message: string };

/** Who asks: providers whose content depends on the client (a per-machine GRUB stub) read it. */
export interface Requester {
  address: string;
}

export interface ContentProvider {
  open(name: string, from?: Requester): OpenResult;
}

/** Longest name accepted, in bytes (latin1 chars: the codec maps one byte to one char). */
export const MAX_NAME = 255;

/**
 * The name policy, before any filesystem call. Returns the relative path or why it is refused.
 *
 * - One leading `/` is stripped: boot configurations commonly say `/ipxe.efi`, and tftp-hpa's
 *   `--secure` serves that from its root too. The result is always relative to the root, so
 *   `/etc/passwd` means `<root>/etc/passwd` (normally: not found), never the host's file.
 * - Refused: empty or > 255 bytes, any byte outside printable ASCII (NUL cannot occur: it ends the
 *   field in the packet), backslashes (a Windows-style separator some servers honour), empty, `.` and
 *   `..` segments. `%2e%2e` is not decoded (TFTP has no escaping): it is a literal name.
 */
export function checkName(name: string): { ok: true; path: string } | { ok: false; reason: 'bad-name'; message: string } {
  if (name.length === 0 || name.length > MAX_NAME) return bad(`name length ${name.length} outside 1–${MAX_NAME}`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return bad(`byte 0x${c.toString(16).padStart(2, '0')} at ${i}`);
    if (c === 0x5c) return bad('backslash');
  }
  const path = name.startsWith('/') ? name.slice(1) : name;
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return bad(`segment ${JSON.stringify(seg)}`);
  }
  return { ok: true, path };
}

function bad(message: string): { ok: false; reason: 'bad-name'; message: string } {
  return { ok: false, reason: 'bad-name', message };
}

export const REFUSED = (reason: Refusal): OpenResult =>
  reason === 'not-found'
    ? { ok: false, reason, code: ERROR_CODE.NOT_FOUND, message: 'File not found' }
    : { ok: false, reason, code: ERROR_CODE.ACCESS_VIOLATION, message: 'Access violation' };

/** Files held in memory (the iPXE binaries, loaded once at start), looked up by checked name. */
export function memoryProvider(files: ReadonlyMap<string, Uint8Array>): ContentProvider {
  return {
    open(name) {
      const checked = checkName(name);
      if (!checked.ok) return REFUSED('bad-name');
      const bytes = files.get(checked.path);
      if (!bytes) return REFUSED('not-found');
      return { ok: true, content: bytesContent(bytes) };
    },
  };
}

/** Bytes held in memory as a transfer's content. */
export function bytesContent(bytes: Uint8Array): Content {
  return { size: bytes.length, bytes, read: (offset, length) => bytes.subarray(offset, offset + length), close() {} };
}

/** A trusted file (an object of the relay's own image cache, found by id, never by a client's name) as content. */
export function trustedFile(path: string): OpenResult {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return REFUSED('not-found');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a file');
    return { ok: true, content: fileContent(fd, st.size) };
  } catch {
    closeSync(fd);
    return REFUSED('not-found');
  }
}

/**
 * Files under a folder. After the name policy, the path is resolved with realpath and must stay
 * inside the root's own realpath (a symlink pointing out of the root is refused; one inside it is
 * followed). The file is opened with O_NOFOLLOW|O_NONBLOCK (a FIFO must not block the loop), must be
 * a regular file by fstat of the open descriptor, and the descriptor's own path (/proc/self/fd) must
 * still be the checked one, so swapping a directory for a symlink between the check and the open
 * does not escape the root either.
 */
export function folderProvider(root: string): ContentProvider {
  const realRoot = realpathSync(root);
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  return {
    open(name) {
      const checked = checkName(name);
      if (!checked.ok) return REFUSED('bad-name');
      let real: string;
      try {
        real = realpathSync(join(realRoot, checked.path));
      } catch {
        return REFUSED('not-found');
      }
      if (!real.startsWith(prefix)) return REFUSED('outside-root');
      let fd: number;
      try {
        fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        return REFUSED('not-found');
      }
      const opened = checkOpened(fd, real);
      if (typeof opened === 'string') {
        closeSync(fd);
        return REFUSED(opened);
      }
      return { ok: true, content: fileContent(fd, opened) };
    },
  };
}

/** The open descriptor's size, or why it must not be served. */
function checkOpened(fd: number, real: string): number | Refusal {
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not-a-file';
    if (readlinkSync(`/proc/self/fd/${fd}`) !== real) return 'outside-root';
    return st.size;
  } catch {
    return 'not-found';
  }
}

/** Thrown by `read` when a file shrinks under a transfer: the server aborts it. */
export class ContentChangedError extends Error {
  override name = 'ContentChangedError';
}

/**
 * A file as content, read with `pread` into a new buffer per read. The TFTP server asks for a run of
 * blocks per read (server.ts builds its DATA packets 16 KiB at a time), not for one block.
 */
function fileContent(fd: number, size: number): Content {
  let open = true;
  return {
    size,
    fd,
    read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) throw new ContentChangedError(`file shrank below ${offset + length} bytes during the transfer`);
        got += n;
      }
      return buf;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** The first provider that has the name wins; a refusal (not merely "not found") stops the search. */
export function firstOf(...providers: ContentProvider[]): ContentProvider {
  return {
    open(name, from) {
      let last: OpenResult = REFUSED('not-found');
      for (const p of providers) {
        last = p.open(name, from);
        if (last.ok || last.reason !== 'not-found') return last;
      }
      return last;
    },
  };
}

/**
 * Reads the named files of a trusted folder into memory once, following symlinks (Debian's
 * /usr/lib/ipxe/ipxe.efi is a link into /boot). Missing files are left out, not fatal: which binaries
 * a site needs depends on its machines, and a missing one is answered "not found" when asked for.
 */
export function loadFiles(dir: string, names: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const name of names) {
    const checked = checkName(name);
    if (!checked.ok) throw new Error(`boot file name ${JSON.stringify(name)} refused: ${checked.message}`);
    try {
      out.set(checked.path, readFileSync(join(dir, checked.path)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return out;
}

/**
 * The relay's boot binaries, shared by TFTP and the HTTP-boot route: the named iPXE files held in
 * memory (read once, through symlinks), then the rest of the folder from disk, root-confined. A folder
 * that does not exist serves only what could be read (nothing): the relay still starts and says so.
 */
export function bootFileContent(dir: string, inMemory: readonly string[]): { provider: ContentProvider; inMemory: string[]; folderError: string | null } {
  const memory = loadFiles(dir, inMemory);
  try {
    return { provider: firstOf(memoryProvider(memory), folderProvider(dir)), inMemory: [...memory.keys()], folderError: null };
  } catch (err) {
    return { provider: memoryProvider(memory), inMemory: [...memory.keys()], folderError: (err as Error).message };
  }
}
