/**
 * Just enough of ELF64 (little-endian, x86-64/arm64 userland) to copy a dynamically linked program
 * into an initramfs: its interpreter (PT_INTERP, the dynamic loader) and the shared libraries it names
 * (DT_NEEDED), i.e. what `ldd` would walk, read from the bytes without running anything.
 * Pure functions over bytes; a precise ElfError when the file does not fit.
 */

export class ElfError extends Error {
  override name = 'ElfError';
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

function segments(elf: Uint8Array): { v: DataView; segs: Segment[] } | null {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || v.getUint32(0) !== 0x7f454c46) return null;
  if (elf[4] !== 2 || elf[5] !== 1) throw new ElfError('not a 64-bit little-endian ELF file');
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  if (phoff + phnum * phentsize > elf.length) throw new ElfError(`program headers claim ${phnum * phentsize} bytes at ${phoff}, file has ${elf.length}`);
  const segs: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    segs.push({ type: v.getUint32(at, true), offset: Number(v.getBigUint64(at + 8, true)), vaddr: Number(v.getBigUint64(at + 16, true)), filesz: Number(v.getBigUint64(at + 32, true)) });
  }
  return { v, segs };
}

const cstr = (b: Uint8Array, at: number): string => {
  const end = b.indexOf(0, at);
  return new TextDecoder().decode(b.subarray(at, end < 0 ? b.length : end));
};

/** True for an ELF file with a PT_INTERP program header (a dynamically linked executable). */
export function hasInterpreter(elf: Uint8Array): boolean {
  return interpreter(elf) !== null;
}

/** The dynamic loader an executable names (`/lib64/ld-linux-x86-64.so.2`), null when static or not ELF. */
export function interpreter(elf: Uint8Array): string | null {
  const s = segments(elf);
  const p = s?.segs.find((x) => x.type === PT_INTERP);
  if (!p) return null;
  if (p.offset + p.filesz > elf.length) throw new ElfError(`PT_INTERP claims ${p.filesz} bytes at ${p.offset}, file has ${elf.length}`);
  return cstr(elf.subarray(p.offset, p.offset + p.filesz), 0);
}

/** The DT_NEEDED sonames of an executable or shared library, in order ([] for a static file). */
export function neededLibraries(elf: Uint8Array): string[] {
  const s = segments(elf);
  if (!s) throw new ElfError('not an ELF file');
  const dyn = s.segs.find((x) => x.type === PT_DYNAMIC);
  if (!dyn) return [];
  const { v } = s;
  const entries: Array<[bigint, bigint]> = [];
  for (let at = dyn.offset; at + 16 <= dyn.offset + dyn.filesz; at += 16) {
    if (at + 16 > elf.length) throw new ElfError(`the dynamic section runs past the end of the file (${elf.length} bytes)`);
    const tag = v.getBigInt64(at, true);
    if (tag === DT_NULL) break;
    entries.push([tag, v.getBigUint64(at + 8, true)]);
  }
  const strtab = entries.find(([t]) => t === DT_STRTAB);
  if (!strtab) throw new ElfError('a dynamic section without DT_STRTAB');
  // DT_STRTAB is a virtual address: find the loaded segment that holds it to get a file offset.
  const addr = Number(strtab[1]);
  const load = s.segs.find((x) => x.type === PT_LOAD && addr >= x.vaddr && addr < x.vaddr + x.filesz);
  if (!load) throw new ElfError(`DT_STRTAB 0x${addr.toString(16)} lies in no loaded segment`);
  const strOff = load.offset + (addr - load.vaddr);
  return entries.filter(([t]) => t === DT_NEEDED).map(([, off]) => cstr(elf, strOff + Number(off)));
}
