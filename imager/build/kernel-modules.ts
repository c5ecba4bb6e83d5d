/**
 * Kernel modules for an initramfs, taken from an unpacked (not installed) Debian kernel package.
 *
 * Debian's linux-image packages ship no `modules.dep`: depmod writes it at install time, and kmod may
 * not even be on the test host. The dependencies are read instead from each module's own `.modinfo`
 * ELF section (`depends=virtio,virtio_ring`), which is what depmod itself reads.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface KernelModule {
  /** Module name as the kernel spells it (dashes folded to underscores). */
  name: string;
  /** The file in the unpacked package (.ko, .ko.xz, .ko.zst or .ko.gz). */
  path: string;
}

export class ModuleError extends Error {
  override name = 'ModuleError';
}

/** Module names use `_`; file names may use `-` (modprobe folds them the same way). */
export const moduleName = (fileOrName: string): string => (fileOrName.split('/').pop() ?? '').replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');

/**
 * The `key=value` strings of an ELF64 little-endian module's `.modinfo` section, grouped by key.
 * Pure: throws a ModuleError naming what does not fit.
 */
export function readModinfo(elf: Uint8Array): Map<string, string[]> {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || v.getUint32(0) !== 0x7f454c46) throw new ModuleError('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new ModuleError('not a 64-bit little-endian ELF file');
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  if (shoff + shnum * shentsize > elf.length) throw new ModuleError(`section headers claim ${shnum * shentsize} bytes at ${shoff}, file has ${elf.length}`);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    const offset = Number(v.getBigUint64(at + 0x18, true));
    const size = Number(v.getBigUint64(at + 0x20, true));
    if (offset + size > elf.length) throw new ModuleError(`section ${i} claims ${size} bytes at ${offset}, file has ${elf.length}`);
    return { nameAt: v.getUint32(at, true), bytes: elf.subarray(offset, offset + size) };
  };
  const names = section(shstrndx).bytes;
  const cstr = (b: Uint8Array, at: number) => new TextDecoder().decode(b.subarray(at, b.indexOf(0, at) < 0 ? b.length : b.indexOf(0, at)));
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (cstr(names, s.nameAt) !== '.modinfo') continue;
    const info = new Map<string, string[]>();
    for (const kv of new TextDecoder().decode(s.bytes).split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const key = kv.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), kv.slice(eq + 1)]);
    }
    return info;
  }
  throw new ModuleError('no .modinfo section');
}

/** A module file's bytes, decompressed: busybox insmod loads only plain ELF. */
export function moduleBytes(path: string): Uint8Array {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : null;
  if (!tool) throw new ModuleError(`${path}: not a kernel module file`);
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 256 << 20 });
  } catch (e) {
    throw new ModuleError(`${path}: ${tool} -dc failed (${(e as Error).message}); install xz-utils / zstd`);
  }
}

/**
 * The modules to insmod, dependencies first, for the wanted names. Built-in modules (listed in
 * `modules.builtin`) need no file and are left out; a name that is neither built in nor shipped throws.
 */
export function resolveModules(modulesDir: string, wanted: readonly string[]): KernelModule[] {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(d.name)) files.set(moduleName(d.name), p);
    }
  };
  walk(join(modulesDir, 'kernel'));
  let builtinText = '';
  try {
    builtinText = readFileSync(join(modulesDir, 'modules.builtin'), 'utf8');
  } catch {
    // an old or trimmed package: then everything must come as a file
  }
  const builtin = new Set(builtinText.split('\n').filter(Boolean).map(moduleName));

  const order: KernelModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    if (state.get(name) === 'done' || builtin.has(name)) return;
    if (state.get(name) === 'visiting') throw new ModuleError(`dependency cycle: ${[...chain, name].join(' → ')}`);
    const path = files.get(name);
    if (!path) throw new ModuleError(`module ${name}${chain.length ? ` (needed by ${chain.at(-1)})` : ''} is neither built into the kernel nor in ${modulesDir}`);
    state.set(name, 'visiting');
    const deps = (readModinfo(moduleBytes(path)).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean);
    for (const dep of deps) visit(moduleName(dep), [...chain, name]);
    state.set(name, 'done');
    order.push({ name, path });
  };
  for (const w of wanted) visit(moduleName(w), []);
  return order;
}

/** Whether the kernel can drive `name` at all (built in or shipped as a module file). */
export function hasModule(modulesDir: string, name: string): boolean {
  try {
    resolveModules(modulesDir, [name]);
    return true;
  } catch (e) {
    if (e instanceof ModuleError) return false;
    throw e;
  }
}
