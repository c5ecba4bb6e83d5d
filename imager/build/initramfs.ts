/**
 * Pieces of a busybox initramfs shared by the imager and the end-to-end test OS: Debian's
 * busybox-static with its applets, the nodes the kernel needs before devtmpfs, parent directories
 * (the kernel's unpacker creates none), and dynamically linked programs copied with the libraries
 * and loader their ELF headers name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { CpioEntry } from './cpio.ts';
import { hasInterpreter, interpreter, neededLibraries } from './elf.ts';

const BUSYBOX = '/bin/busybox';

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let busyboxCache: CpioEntry[] | undefined;

/** Debian's busybox-static as /bin/busybox, every applet symlinked beside it, and /dev/console. */
export function busyboxEntries(): CpioEntry[] {
  if (busyboxCache) return busyboxCache;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(BUSYBOX);
  } catch {
    throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  }
  if (hasInterpreter(bytes)) throw new Error(`${BUSYBOX} is dynamically linked: apt-get install busybox-static (it replaces busybox)`);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox' && a !== 'init' && a !== 'linuxrc');
  busyboxCache = [
    { type: 'file', path: 'bin/busybox', data: bytes, mode: 0o755 },
    ...applets.map((a): CpioEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'symlink', path: 'sbin', target: 'bin' },
    { type: 'dir', path: 'usr' },
    { type: 'symlink', path: 'usr/bin', target: '../bin' },
    { type: 'symlink', path: 'usr/sbin', target: '../bin' },
    // The kernel opens /dev/console for init before anything mounts devtmpfs: without this node init
    // runs with no stdout ("Warning: unable to open an initial console").
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    ...['proc', 'sys', 'tmp', 'etc', 'root', 'mnt', 'run'].map((d): CpioEntry => ({ type: 'dir', path: d })),
  ];
  return busyboxCache;
}

/**
 * Adds each missing parent directory before its first child, and keeps the first entry of a path
 * (so a later program's copy of a library already there is dropped).
 */
export function withParents(entries: readonly CpioEntry[]): CpioEntry[] {
  const seen = new Set<string>();
  const out: CpioEntry[] = [];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!seen.has(dir)) {
        seen.add(dir);
        out.push({ type: 'dir', path: dir });
      }
    }
    if (seen.has(e.path)) continue; // a directory already implied, or a duplicate
    seen.add(e.path);
    out.push(e);
  }
  return out;
}

export function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Where Debian's dynamic loader looks without an ld.so.cache (its multiarch directories first). */
export const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'usr/lib64', 'lib', 'usr/lib'] as const;
/** Where copied libraries go in the initramfs: a directory the loader searches by default. */
export const LIB_DEST = 'lib/x86_64-linux-gnu';

/**
 * `path` (absolute, as seen inside `root`) with every symlink followed inside `root`: an unpacked
 * package's `/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/…` must not lead to the host's file.
 * Null when it does not exist there.
 */
export function resolveIn(root: string, path: string): string | null {
  const parts = path.split('/').filter(Boolean);
  let cur = '/';
  let hops = 0;
  while (parts.length) {
    const name = parts.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = posix.dirname(cur);
      continue;
    }
    const next = posix.join(cur, name);
    let link: string | null = null;
    try {
      if (lstatSync(join(root, next)).isSymbolicLink()) link = readlinkSync(join(root, next));
    } catch {
      return null;
    }
    if (link === null) {
      cur = next;
      continue;
    }
    if (++hops > 40) throw new Error(`${path}: too many symbolic links under ${root}`);
    parts.unshift(...link.split('/').filter(Boolean));
    if (link.startsWith('/')) cur = '/';
  }
  return join(root, cur);
}

export interface ProgramOptions {
  /** The executable, absolute inside the first root that has it (e.g. `/usr/bin/zstd`); or where it may be. */
  binary: string | readonly string[];
  /** Where it goes in the initramfs, e.g. `bin/zstd`. */
  dest: string;
  /** Trees searched in order for the binary, its libraries and its loader (unpacked packages, or `/`). */
  roots: readonly string[];
}

/**
 * The program, every shared library it needs (DT_NEEDED, transitively) and its dynamic loader
 * (PT_INTERP), as initramfs entries: what `ldd` would list, read from the ELF headers. A library none
 * of the roots holds throws, naming it and who needs it.
 */
export function programEntries(o: ProgramOptions): { entries: CpioEntry[]; libraries: string[] } {
  const find = (path: string) => {
    for (const root of o.roots) {
      const p = resolveIn(root, path);
      if (p !== null && existsSync(p)) return p;
    }
    return null;
  };
  const names = typeof o.binary === 'string' ? [o.binary] : o.binary;
  const binPath = names.map(find).find((p) => p !== null);
  if (!binPath) throw new Error(`${names.join(' or ')} is in none of ${o.roots.join(', ')}`);
  const bin = readFileSync(binPath);
  const entries: CpioEntry[] = [{ type: 'file', path: o.dest, data: bin, mode: 0o755 }];
  const interp = interpreter(bin);
  if (interp) {
    const p = find(interp);
    if (!p) throw new Error(`${names[0]}'s loader ${interp} is in none of ${o.roots.join(', ')} (Debian package libc6)`);
    entries.push({ type: 'file', path: interp.replace(/^\/+/, ''), data: readFileSync(p), mode: 0o755 });
  }
  const libraries: string[] = [];
  const queue: Array<[string, string]> = neededLibraries(bin).map((l) => [l, names[0]!]);
  const done = new Set<string>();
  while (queue.length) {
    const [soname, by] = queue.shift()!;
    if (done.has(soname)) continue;
    done.add(soname);
    const p = LIB_DIRS.map((d) => find(`/${d}/${soname}`)).find((x) => x !== null);
    if (!p) throw new Error(`${soname} (needed by ${by}) is in none of ${o.roots.join(', ')}`);
    const bytes = readFileSync(p);
    libraries.push(soname);
    entries.push({ type: 'file', path: `${LIB_DEST}/${soname}`, data: bytes, mode: 0o755 });
    for (const l of neededLibraries(bytes)) queue.push([l, soname]);
  }
  return { entries, libraries };
}
