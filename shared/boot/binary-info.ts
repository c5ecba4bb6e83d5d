/**
 * What the first bytes of an image say it is: a PE/COFF executable (UEFI binaries, and Linux kernels
 * built with the EFI stub), an ELF file, a Linux x86 bzImage or a Linux arm64 Image. A pure function
 * over bytes (no Buffer, no node:*: it runs in workerd too), so the cloud can sniff an upload while it
 * streams and the answer can be stored with the image.
 *
 * It reads headers only, never the body: it needs the first {@link SNIFF_BYTES} bytes (fewer when the
 * file is shorter). A PE header placed beyond them (e_lfanew past 4 KiB: no shim, GRUB, iPXE or kernel
 * does that) is reported as `format: 'unknown'` with a reason rather than guessed at.
 *
 * References: Microsoft "PE Format" (COFF header, optional header, data directories; the security
 * directory is entry 4 and its VirtualAddress is a *file offset*), the Linux x86 boot protocol
 * (Documentation/arch/x86/boot.rst: "HdrS" at 0x202, xloadflags at 0x236), the Linux arm64 boot
 * protocol (Documentation/arch/arm64/booting.rst: magic "ARM\x64" at 0x38), and the ELF gABI.
 */

import type { ImageArch } from '../schemas/image.ts';

/** How many leading bytes of a file {@link sniffBinary} needs. */
export const SNIFF_BYTES = 4096;

/** CPU families the catalog cares about; anything else keeps its raw machine number. */
export type BinaryCpu = 'x86-64' | 'x86' | 'arm64' | 'arm' | 'riscv64' | 'other';

export interface BinaryInfo {
  format: 'pe' | 'elf' | 'linux-bzimage' | 'linux-arm64-image' | 'unknown';
  /** The CPU the code is for, when the header says so. */
  cpu: BinaryCpu | null;
  /** PE `Machine` or ELF `e_machine`, as in the file. */
  machine: number | null;
  /** PE optional header `Subsystem` (10 = EFI application, 11/12 = EFI drivers, 13 = EFI ROM). */
  subsystem: number | null;
  /**
   * PE only: the security data directory (Authenticode certificate table), or null when it is empty.
   * Its offset is a file offset; a signature that ends past the file's size means a truncated file.
   */
  signature: { offset: number; size: number } | null;
  /** Linux's own boot header, also found inside a PE when the kernel has the EFI stub. */
  linux: 'bzimage' | 'arm64-image' | null;
  /** For `unknown`: why, in words. */
  note?: string;
}

/** PE `Machine` values (PE Format, "Machine Types"). */
export const PE_MACHINE = { i386: 0x014c, arm: 0x01c2, armnt: 0x01c4, amd64: 0x8664, arm64: 0xaa64, riscv64: 0x5064 } as const;
/** PE `Subsystem` values for UEFI images (PE Format, "Windows Subsystem"). */
export const PE_SUBSYSTEM = { efiApplication: 10, efiBootServiceDriver: 11, efiRuntimeDriver: 12, efiRom: 13 } as const;
/** ELF `e_machine` values (gABI). */
const ELF_MACHINE = { 3: 'x86', 40: 'arm', 62: 'x86-64', 183: 'arm64', 243: 'riscv64' } as const satisfies Record<number, BinaryCpu>;

const PE_CPU: Record<number, BinaryCpu> = {
  [PE_MACHINE.i386]: 'x86',
  [PE_MACHINE.arm]: 'arm',
  [PE_MACHINE.armnt]: 'arm',
  [PE_MACHINE.amd64]: 'x86-64',
  [PE_MACHINE.arm64]: 'arm64',
  [PE_MACHINE.riscv64]: 'riscv64',
};

/** PE32 and PE32+ optional header magics. */
const PE32 = 0x10b;
const PE32_PLUS = 0x20b;
/** Index of the certificate table among the data directories. */
const SECURITY_DIRECTORY = 4;
/** bzImage xloadflags bit 0: the kernel has a 64-bit entry point (boot protocol 2.12+). */
const XLF_KERNEL_64 = 1;

const unknown = (note: string): BinaryInfo => ({ format: 'unknown', cpu: null, machine: null, subsystem: null, signature: null, linux: null, note });

export function sniffBinary(head: Uint8Array): BinaryInfo {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const has = (offset: number, length: number) => offset >= 0 && offset + length <= head.byteLength;
  const ascii = (offset: number, text: string) => has(offset, text.length) && [...text].every((ch, i) => head[offset + i] === ch.charCodeAt(0));
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);

  // Linux boot headers are checked first: a kernel with the EFI stub is a PE too, and says both.
  let linux: BinaryInfo['linux'] = null;
  let linuxCpu: BinaryCpu | null = null;
  if (ascii(0x202, 'HdrS') && has(0x1fe, 2) && u16(0x1fe) === 0xaa55) {
    linux = 'bzimage';
    // xloadflags exist from boot protocol 2.12; older kernels are 32-bit-entry x86 (they run on x86-64 too).
    const version = has(0x206, 2) ? u16(0x206) : 0;
    linuxCpu = version >= 0x020c && has(0x236, 2) && (u16(0x236) & XLF_KERNEL_64) !== 0 ? 'x86-64' : 'x86';
  } else if (ascii(0x38, 'ARM\x64')) {
    linux = 'arm64-image';
    linuxCpu = 'arm64';
  }

  if (ascii(0, 'MZ') && has(0x3c, 4)) {
    const pe = u32(0x3c);
    if (pe >= 0x40 && ascii(pe, 'PE\0\0')) {
      const coff = pe + 4;
      if (!has(coff, 20)) return unknown(`the PE header at ${pe} runs past the ${head.byteLength} bytes read`);
      const machine = u16(coff);
      const optSize = u16(coff + 16);
      const opt = coff + 20;
      if (optSize < 2 || !has(opt, 2)) return { format: 'pe', cpu: PE_CPU[machine] ?? 'other', machine, subsystem: null, signature: null, linux };
      const magic = u16(opt);
      if (magic !== PE32 && magic !== PE32_PLUS) return unknown(`PE optional header magic 0x${magic.toString(16)} is neither PE32 nor PE32+`);
      // Subsystem sits at the same offset in both; the data directories follow NumberOfRvaAndSizes.
      const countAt = opt + (magic === PE32 ? 92 : 108);
      if (!has(opt + 68, 2) || !has(countAt, 4)) return unknown(`the PE optional header runs past the ${head.byteLength} bytes read`);
      const subsystem = u16(opt + 68);
      const count = u32(countAt);
      const dir = countAt + 4 + SECURITY_DIRECTORY * 8;
      let signature: BinaryInfo['signature'] = null;
      if (count > SECURITY_DIRECTORY && dir + 8 <= opt + optSize) {
        if (!has(dir, 8)) return unknown(`the PE data directories run past the ${head.byteLength} bytes read`);
        const offset = u32(dir);
        const size = u32(dir + 4);
        if (size > 0) signature = { offset, size };
      }
      return { format: 'pe', cpu: PE_CPU[machine] ?? 'other', machine, subsystem, signature, linux };
    }
    if (pe >= head.byteLength && linux === null) return unknown(`the PE header offset ${pe} is past the ${head.byteLength} bytes read`);
  }

  if (linux !== null) return { format: linux === 'bzimage' ? 'linux-bzimage' : 'linux-arm64-image', cpu: linuxCpu, machine: null, subsystem: null, signature: null, linux };

  if (ascii(0, '\x7fELF') && has(20, 0)) {
    const littleEndian = head[5] === 1;
    if (head[5] !== 1 && head[5] !== 2) return unknown(`ELF data encoding ${head[5]} is neither little- nor big-endian`);
    const machine = v.getUint16(18, littleEndian);
    return { format: 'elf', cpu: (ELF_MACHINE as Record<number, BinaryCpu>)[machine] ?? 'other', machine, subsystem: null, signature: null, linux: null };
  }
  return unknown('no PE, ELF or Linux kernel header');
}

/**
 * The catalog architecture a binary's CPU implies: x86 code (32- or 64-bit) is for the x86-64
 * machines edgeboot boots (BIOS and UEFI x64), arm64 code for UEFI arm64 ones; null when the bytes
 * say nothing (not a binary) or name a CPU the catalog has no word for.
 */
export function archOfBinary(info: BinaryInfo): Exclude<ImageArch, 'any'> | null {
  if (info.cpu === 'x86-64' || info.cpu === 'x86') return 'x86-64';
  if (info.cpu === 'arm64') return 'arm64';
  return null;
}

/** Words for people: "x86-64 EFI application, signed", "arm64 Linux kernel (Image)". */
export function describeBinary(info: BinaryInfo): string {
  const cpu = info.cpu ?? 'unknown-CPU';
  const signed = info.signature ? ', signed' : info.format === 'pe' ? ', unsigned' : '';
  switch (info.format) {
    case 'pe': {
      const what = info.subsystem === PE_SUBSYSTEM.efiApplication ? 'EFI application' : info.subsystem !== null && info.subsystem >= 11 && info.subsystem <= 13 ? 'EFI driver' : `PE executable (subsystem ${info.subsystem ?? '?'})`;
      return `${cpu} ${what}${info.linux ? ' (Linux kernel with EFI stub)' : ''}${signed}`;
    }
    case 'elf':
      return `${cpu} ELF file`;
    case 'linux-bzimage':
      return `${cpu} Linux kernel (bzImage)`;
    case 'linux-arm64-image':
      return 'arm64 Linux kernel (Image)';
    default:
      return 'not a recognised executable';
  }
}
