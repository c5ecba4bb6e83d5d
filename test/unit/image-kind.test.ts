import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guessKind, KIND_HEAD_BYTES } from '../../cli/src/upload/kind.ts';

/**
 * The CLI's image-kind guess from a file's first bytes. Real files where this box has them (iPXE's
 * bzImage and EFI binary from the ipxe package in /boot, qcow2 from qemu-img, gzip/zstd/xz from the
 * real compressors); headers crafted by their specification where no tool is installed here (cpio
 * newc, ISO 9660, WIM, MBR/GPT), each built by its own helper below.
 */

const dir = mkdtempSync(join(tmpdir(), 'edgeboot-kind-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const head = (bytes: Uint8Array): Uint8Array => bytes.subarray(0, KIND_HEAD_BYTES);
const file = (path: string): Uint8Array => head(new Uint8Array(readFileSync(path)));

/** An SVR4 "newc" cpio archive of one file and the trailer, as the kernel's initramfs unpacker reads it. */
function cpioNewc(name: string, content: string): Uint8Array {
  const pad4 = (n: number) => (4 - (n % 4)) % 4;
  const entry = (n: string, data: string, mode: number) => {
    const fields = [1, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, n.length + 1, 0].map((f) => f.toString(16).padStart(8, '0')).join('');
    const hdr = `070701${fields}${n}\0`;
    return `${hdr}${'\0'.repeat(pad4(hdr.length))}${data}${'\0'.repeat(pad4(data.length))}`;
  };
  return new TextEncoder().encode(entry(name, content, 0o100755) + entry('TRAILER!!!', '', 0));
}

/** A disk whose sector 0 is an MBR (boot signature 55 aa at 510), `gpt` adding the GPT header in sector 1. */
function disk(gpt: boolean): Uint8Array {
  const b = new Uint8Array(1024 * 1024);
  b[510] = 0x55;
  b[511] = 0xaa;
  if (gpt) b.set(new TextEncoder().encode('EFI PART'), 512);
  // Some non-zero data further on, so the compressed forms are not all one run.
  for (let i = 4096; i < b.length; i += 7) b[i] = i & 0xff;
  return b;
}

/** An ISO 9660 image's first 34 KiB: system area, then the primary volume descriptor (type 1, "CD001", version 1) in sector 16. */
function iso(): Uint8Array {
  const b = new Uint8Array(34 * 1024);
  b[0x8000] = 1;
  b.set(new TextEncoder().encode('CD001'), 0x8001);
  b[0x8006] = 1;
  return b;
}

/** Runs a real compressor over bytes; returns its output. */
function compress(tool: 'gzip' | 'zstd' | 'xz', bytes: Uint8Array): Uint8Array {
  const path = join(dir, `in-${tool}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, bytes);
  return new Uint8Array(execFileSync(tool, ['-c', path], { maxBuffer: 64 * 1024 * 1024 }));
}

describe('guessKind: the bytes first', () => {
  it("calls iPXE's bzImage a kernel and its EFI binary an efi, whatever their names", async () => {
    expect(await guessKind(file('/boot/ipxe.lkrn'), 'notes.txt')).toEqual({ kind: 'kernel', why: 'content: x86 Linux kernel (bzImage)' });
    expect(await guessKind(file('/boot/ipxe.efi'), 'ipxe.bin')).toEqual({ kind: 'efi', why: 'content: x86-64 EFI application, unsigned' });
  });

  it('calls a qcow2 from qemu-img disk-qcow2, and an ISO 9660 image iso, named anything', async () => {
    const q = join(dir, 'disk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', q, '64M']);
    expect(await guessKind(file(q), 'disk')).toEqual({ kind: 'disk-qcow2', why: 'content: qcow2 disk' });
    expect(await guessKind(iso(), 'installer')).toEqual({ kind: 'iso', why: 'content: ISO 9660 file system' });
    expect((await guessKind(new TextEncoder().encode('MSWIM\0\0\0\xd0\0\0\0'), 'boot')).kind).toBe('wim');
  });

  it('calls a cpio archive an initrd, plain or gzip-, zstd-compressed, by what is inside', async () => {
    const initramfs = cpioNewc('init', '#!/bin/sh\nexec /bin/sh\n'.repeat(50));
    expect(await guessKind(initramfs, 'ramdisk')).toEqual({ kind: 'initrd', why: 'content: cpio archive' });
    expect(await guessKind(head(compress('gzip', initramfs)), 'ramdisk.bin')).toEqual({ kind: 'initrd', why: 'content: gzip-compressed cpio archive' });
    expect(await guessKind(head(compress('zstd', initramfs)), 'ramdisk.bin')).toEqual({ kind: 'initrd', why: 'content: zstd-compressed cpio archive' });
  });

  it('calls a compressed kernel a kernel and a compressed disk disk-gz or disk-zst', async () => {
    const lkrn = new Uint8Array(readFileSync('/boot/ipxe.lkrn'));
    expect(await guessKind(head(compress('gzip', lkrn)), 'vmlinuz.gz')).toEqual({ kind: 'kernel', why: 'content: gzip-compressed x86 Linux kernel (bzImage)' });
    expect(await guessKind(head(compress('gzip', disk(true))), 'root')).toEqual({ kind: 'disk-gz', why: 'content: gzip-compressed GPT disk' });
    expect(await guessKind(head(compress('zstd', disk(false))), 'root')).toEqual({ kind: 'disk-zst', why: 'content: zstd-compressed MBR disk' });
    expect(await guessKind(disk(false), 'root')).toEqual({ kind: 'disk-raw', why: 'content: MBR disk' });
  });
});

describe('guessKind: the name second', () => {
  it('lets the name decide for an xz file, whose content Node cannot read', async () => {
    const xz = head(compress('xz', cpioNewc('init', 'x')));
    expect(await guessKind(xz, 'ubuntu-24.04-initrd')).toEqual({ kind: 'initrd', why: 'name (xz-compressed content)' });
    expect(await guessKind(xz, 'backup.tar.xz')).toEqual({ kind: 'file', why: 'xz-compressed, and its name says nothing more' });
  });

  it('does not make any gzip an initrd: a compressed tarball stays a file unless its name says otherwise', async () => {
    const tgz = head(compress('gzip', new TextEncoder().encode('notes\n'.repeat(1000))));
    expect(await guessKind(tgz, 'notes.tar.gz')).toEqual({ kind: 'file', why: 'gzip-compressed, and its name says nothing more' });
    expect(await guessKind(tgz, 'debian-12-initrd.gz')).toEqual({ kind: 'initrd', why: 'name (gzip-compressed content)' });
    expect(await guessKind(tgz, 'disk.img.gz')).toEqual({ kind: 'disk-gz', why: 'name (gzip-compressed content)' });
  });

  it('falls back to the name when the bytes say nothing', async () => {
    const text = new TextEncoder().encode('#!ipxe\nshell\n');
    expect(await guessKind(text, 'ubuntu-24.04-vmlinuz')).toEqual({ kind: 'kernel', why: 'name' });
    expect(await guessKind(text, 'menu.ipxe')).toEqual({ kind: 'file', why: 'neither its content nor its name says' });
    expect(await guessKind(new Uint8Array(0), 'empty')).toEqual({ kind: 'file', why: 'neither its content nor its name says' });
  });
});
