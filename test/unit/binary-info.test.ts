import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { archOfBinary, describeBinary, sniffBinary, SNIFF_BYTES, type BinaryInfo } from '../../shared/boot/binary-info.ts';
import { DEBIAN_BINARIES } from '../contract/debian-binaries.ts';
import { debianBinaries, type DebianBinary } from './debian-binaries.ts';

/** The first SNIFF_BYTES of a file, as the cloud sees them at upload. */
const headOf = (path: string): Uint8Array => new Uint8Array(readFileSync(path).subarray(0, SNIFF_BYTES));

/**
 * A Linux arm64 Image header (Documentation/arch/arm64/booting.rst): code0 "MZ" when the EFI stub is
 * in, text_offset, image_size, flags, magic "ARM\x64" at 0x38, the PE header offset at 0x3c. Crafted:
 * Debian's arm64 kernel package is 70 MB to download for 64 bytes of header.
 */
function arm64Image(opts: { efiStub: boolean }): Uint8Array {
  const b = new Uint8Array(SNIFF_BYTES);
  const v = new DataView(b.buffer);
  if (opts.efiStub) b.set([0x4d, 0x5a], 0); // "MZ"
  v.setBigUint64(8, 0n, true); // text_offset
  v.setBigUint64(16, 0x2000000n, true); // image_size
  b.set([0x41, 0x52, 0x4d, 0x64], 0x38); // "ARM\x64"
  if (opts.efiStub) {
    v.setUint32(0x3c, 0x40, true);
    b.set([0x50, 0x45, 0, 0], 0x40); // "PE\0\0"
    v.setUint16(0x44, 0xaa64, true); // Machine: arm64
    v.setUint16(0x44 + 16, 240, true); // SizeOfOptionalHeader
    v.setUint16(0x58, 0x20b, true); // PE32+
    v.setUint16(0x58 + 68, 10, true); // Subsystem: EFI application
    v.setUint32(0x58 + 108, 16, true); // NumberOfRvaAndSizes
  }
  return b;
}

describe('sniffBinary on real Debian binaries', () => {
  let files: Record<string, DebianBinary>;
  beforeAll(async () => {
    files = await debianBinaries();
  }, 600_000);

  it("reads trixie's shimx64.efi.signed as a signed x86-64 EFI application whose signature lies inside the file", () => {
    const info = sniffBinary(headOf(files.shim!.path));
    expect(info).toMatchObject({ format: 'pe', cpu: 'x86-64', machine: 0x8664, subsystem: 10, linux: null });
    const size = readFileSync(files.shim!.path).length;
    expect(info.signature!.size).toBeGreaterThan(0);
    expect(info.signature!.offset + info.signature!.size).toBeLessThanOrEqual(size);
    expect(describeBinary(info)).toBe('x86-64 EFI application, signed');
  });

  it("reads trixie's grubnetx64.efi.signed as a signed x86-64 EFI application", () => {
    expect(sniffBinary(headOf(files.grub!.path))).toMatchObject({ format: 'pe', cpu: 'x86-64', subsystem: 10, signature: { size: expect.any(Number) } });
  });

  it("reads Debian's ipxe.efi as an unsigned x86-64 EFI application and ipxe-arm64.efi as an arm64 one", () => {
    expect(sniffBinary(headOf(files.ipxeEfi!.path))).toMatchObject({ format: 'pe', cpu: 'x86-64', machine: 0x8664, subsystem: 10, signature: null });
    const arm = sniffBinary(headOf(files.ipxeArm64!.path));
    expect(arm).toMatchObject({ format: 'pe', cpu: 'arm64', machine: 0xaa64, subsystem: 10, signature: null });
    expect(archOfBinary(arm)).toBe('arm64');
  });

  it("reads Debian's signed kernel as a bzImage that is also a signed x86-64 PE (the EFI stub)", () => {
    const info = sniffBinary(headOf(files.kernel!.path));
    expect(info).toMatchObject({ format: 'pe', cpu: 'x86-64', linux: 'bzimage', subsystem: 10 });
    expect(info.signature).not.toBeNull();
    expect(archOfBinary(info)).toBe('x86-64');
  });

  it("reads ipxe.lkrn as a bzImage with no PE header and so no signature", () => {
    expect(sniffBinary(headOf(files.ipxeLkrn!.path))).toMatchObject({ format: 'linux-bzimage', linux: 'bzimage', signature: null });
  });

  it('needs no more than the first SNIFF_BYTES: the whole file says the same', () => {
    for (const f of Object.values(files)) expect(sniffBinary(new Uint8Array(readFileSync(f.path))), f.source).toEqual(sniffBinary(headOf(f.path)));
  });

  it("the contract suite's fixture holds the real files' first bytes and sizes", () => {
    for (const [key, fixture] of Object.entries(DEBIAN_BINARIES)) {
      const bytes = readFileSync(files[key]!.path);
      expect({ key, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), head: Buffer.from(bytes.subarray(0, SNIFF_BYTES)).toString('base64') }).toEqual({
        key,
        size: fixture.size,
        sha256: fixture.sha256,
        head: fixture.head,
      });
    }
  });
});

describe('sniffBinary on crafted and hostile headers', () => {
  it('reads an arm64 Image with the EFI stub as an arm64 EFI application and Linux kernel', () => {
    const info = sniffBinary(arm64Image({ efiStub: true }));
    expect(info).toMatchObject({ format: 'pe', cpu: 'arm64', machine: 0xaa64, subsystem: 10, signature: null, linux: 'arm64-image' });
    expect(archOfBinary(info)).toBe('arm64');
  });

  it('reads an arm64 Image without the EFI stub by its magic', () => {
    expect(sniffBinary(arm64Image({ efiStub: false }))).toEqual({ format: 'linux-arm64-image', cpu: 'arm64', machine: null, subsystem: null, signature: null, linux: 'arm64-image' });
  });

  it('reads ELF files by e_machine, in either byte order', () => {
    const elf = (machine: number, le: boolean) => {
      const b = new Uint8Array(64);
      b.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1], 0);
      new DataView(b.buffer).setUint16(18, machine, le);
      return b;
    };
    expect(sniffBinary(elf(62, true))).toMatchObject({ format: 'elf', cpu: 'x86-64', machine: 62 });
    expect(sniffBinary(elf(183, true))).toMatchObject({ format: 'elf', cpu: 'arm64' });
    expect(sniffBinary(elf(243, false))).toMatchObject({ format: 'elf', cpu: 'riscv64' });
    expect(sniffBinary(elf(0x1234, true))).toMatchObject({ format: 'elf', cpu: 'other', machine: 0x1234 });
  });

  it('says what it could not read instead of guessing', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['text', new TextEncoder().encode('#!ipxe\nchain http://example/\n')],
      ['MZ only', new Uint8Array([0x4d, 0x5a])],
    ];
    for (const [what, bytes] of cases) expect(sniffBinary(bytes), what).toMatchObject({ format: 'unknown', cpu: null, signature: null });
    // A PE header pointer past the bytes read.
    const far = new Uint8Array(SNIFF_BYTES);
    far.set([0x4d, 0x5a]);
    new DataView(far.buffer).setUint32(0x3c, 0x10000, true);
    expect(sniffBinary(far)).toMatchObject({ format: 'unknown', note: 'the PE header offset 65536 is past the 4096 bytes read' });
  });

  it('never throws on truncated real headers: every prefix of a real shim gives an answer', async () => {
    const { shim } = await debianBinaries();
    const head = headOf(shim.path);
    const seen = new Set<BinaryInfo['format']>();
    for (let n = 0; n <= 512; n++) seen.add(sniffBinary(head.subarray(0, n)).format);
    expect(seen).toEqual(new Set(['unknown', 'pe']));
  });

  it('reads a Uint8Array that is a view into a larger buffer', () => {
    const inner = arm64Image({ efiStub: true });
    const outer = new Uint8Array(inner.length + 7);
    outer.set(inner, 7);
    expect(sniffBinary(outer.subarray(7))).toEqual(sniffBinary(inner));
  });
});
