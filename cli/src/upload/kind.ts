/**
 * The kind of an image to upload, from what its first bytes are, then from its name. The bytes win:
 * `ubuntu-24.04-vmlinuz` is a kernel because it has a Linux boot header, not because of its name.
 * Executables (PE/EFI, bzImage, arm64 Image) are recognised by the cloud's own sniffer
 * (shared/boot/binary-info.ts, which records the same facts when the bytes are stored); the
 * container formats around them are recognised here:
 *
 *   ISO 9660      "CD001" at 0x8001 (ECMA-119 §8.4: the primary volume descriptor in sector 16)
 *   qcow2         "QFI\xfb" at 0 (QEMU docs/interop/qcow2.txt)
 *   WIM           "MSWIM\0\0\0" at 0 (Microsoft WIM header)
 *   cpio (newc)   "070701" or "070702" (crc) at 0: an uncompressed initramfs (early microcode too)
 *   gzip          1f 8b (RFC 1952)       ┐ compressed: what is inside decides (below)
 *   zstd          28 b5 2f fd (RFC 8878) │
 *   xz            fd "7zXZ" 00           ┘
 *   raw disk      the MBR's 55 aa at 510 (after the bzImage check: a bzImage has it too), or "EFI PART" at 512
 *
 * A compressed file is decompressed as far as the bytes read allow (gzip and zstd; Node has no xz):
 * a cpio inside is an initrd (Debian/Ubuntu/Fedora initrds are gzip- or zstd-compressed cpio), a
 * kernel inside is a kernel (Debian's arm64 vmlinuz is a gzip-compressed Image), a partition table
 * inside is a compressed disk (disk-gz, disk-zst). When what is inside cannot be read (xz, or a head
 * too short), the name decides between initrd and disk, and a compressed file the name says nothing
 * about stays `file`: guessing initrd for any .gz would turn tarballs into boot files.
 */
import type { Transform } from 'node:stream';
import { constants as zlib, createGunzip, createZstdDecompress } from 'node:zlib';
import { describeBinary, sniffBinary } from '../../../shared/boot/binary-info.ts';
import type { ImageKind } from '../../../shared/schemas/image.ts';

type Kind = (typeof ImageKind.options)[number];

/** Bytes read from the file's start: the ISO descriptor sits at 32 KiB, a zstd block can be 128 KiB. */
export const KIND_HEAD_BYTES = 256 * 1024;
/** Bytes of decompressed content looked at: enough for the sniffer and a partition table. */
const INNER_BYTES = 64 * 1024;

export interface KindGuess {
  kind: Kind;
  /** How it was decided, for people: "content: x86-64 Linux kernel (bzImage)", "name". */
  why: string;
}

const startsWith = (b: Uint8Array, at: number, bytes: readonly number[]) => b.byteLength >= at + bytes.length && bytes.every((x, i) => b[at + i] === x);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const MAGIC = {
  iso: { at: 0x8001, bytes: ascii('CD001') },
  qcow2: { at: 0, bytes: [0x51, 0x46, 0x49, 0xfb] },
  wim: { at: 0, bytes: ascii('MSWIM\0\0\0') },
  cpioNewc: { at: 0, bytes: ascii('070701') },
  cpioCrc: { at: 0, bytes: ascii('070702') },
  gzip: { at: 0, bytes: [0x1f, 0x8b] },
  zstd: { at: 0, bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  xz: { at: 0, bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  gpt: { at: 512, bytes: ascii('EFI PART') },
  mbr: { at: 510, bytes: [0x55, 0xaa] },
} as const;

const is = (b: Uint8Array, m: { at: number; bytes: readonly number[] }) => startsWith(b, m.at, m.bytes);

type Inner = 'initrd' | 'kernel' | 'disk' | 'efi';

/** What uncompressed bytes are, for the kinds a compressed file can hold; null when they say nothing. */
function innerOf(b: Uint8Array): { what: Inner; why: string } | null {
  if (is(b, MAGIC.cpioNewc) || is(b, MAGIC.cpioCrc)) return { what: 'initrd', why: 'cpio archive' };
  const bin = sniffBinary(b.subarray(0, 4096));
  if (bin.linux !== null) return { what: 'kernel', why: describeBinary(bin) };
  if (bin.format === 'pe' && bin.subsystem !== null && bin.subsystem >= 10 && bin.subsystem <= 13) return { what: 'efi', why: describeBinary(bin) };
  if (is(b, MAGIC.gpt)) return { what: 'disk', why: 'GPT disk' };
  if (is(b, MAGIC.mbr)) return { what: 'disk', why: 'MBR disk' };
  return null;
}

/** The kind of the file's own bytes (not decompressed), or the compression when it is compressed. */
function outerOf(head: Uint8Array): { kind: Kind; why: string } | { compressed: 'gzip' | 'zstd' | 'xz' } | null {
  if (is(head, MAGIC.iso)) return { kind: 'iso', why: 'ISO 9660 file system' };
  if (is(head, MAGIC.qcow2)) return { kind: 'disk-qcow2', why: 'qcow2 disk' };
  if (is(head, MAGIC.wim)) return { kind: 'wim', why: 'Windows imaging (WIM) file' };
  const inner = innerOf(head);
  if (inner) return { kind: inner.what === 'disk' ? 'disk-raw' : inner.what, why: inner.why };
  if (is(head, MAGIC.gzip)) return { compressed: 'gzip' };
  if (is(head, MAGIC.zstd)) return { compressed: 'zstd' };
  if (is(head, MAGIC.xz)) return { compressed: 'xz' };
  return null;
}

/**
 * The first {@link INNER_BYTES} of a compressed stream's content, stopping there (a disk of zeros
 * inflates a thousandfold). A truncated stream gives what its complete blocks hold: zstd emits whole
 * blocks (up to 128 KiB), hence the head's size; inflate emits as it goes (Z_SYNC_FLUSH at the end).
 */
function decompressedHead(z: Transform, head: Uint8Array): Promise<Uint8Array> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done(new Uint8Array(Buffer.concat(chunks).subarray(0, INNER_BYTES)));
    };
    z.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.byteLength;
      if (got >= INNER_BYTES) {
        finish();
        z.destroy();
      }
    });
    z.on('error', finish);
    z.on('end', finish);
    z.on('close', finish);
    z.end(head);
  });
}

const COMPRESSED: Record<'gzip' | 'zstd' | 'xz', { disk: Kind | null; name: string }> = {
  gzip: { disk: 'disk-gz', name: 'gzip' },
  zstd: { disk: 'disk-zst', name: 'zstd' },
  xz: { disk: null, name: 'xz' },
};

/**
 * The kind for a file: its bytes first, its name second. `head` is the file's first
 * {@link KIND_HEAD_BYTES} (fewer for a shorter file).
 */
export async function guessKind(head: Uint8Array, fileName: string): Promise<KindGuess> {
  const outer = outerOf(head);
  if (outer && 'kind' in outer) return { kind: outer.kind, why: `content: ${outer.why}` };
  const byName = kindFromName(fileName);
  if (!outer) return { kind: byName, why: byName === 'file' ? 'neither its content nor its name says' : 'name' };

  const c = COMPRESSED[outer.compressed];
  const body =
    outer.compressed === 'gzip'
      ? await decompressedHead(createGunzip({ finishFlush: zlib.Z_SYNC_FLUSH }), head)
      : outer.compressed === 'zstd'
        ? await decompressedHead(createZstdDecompress(), head)
        : new Uint8Array(0);
  const inner = innerOf(body);
  if (inner) {
    const kind: Kind | null = inner.what === 'disk' ? c.disk : inner.what === 'efi' ? 'efi' : inner.what;
    if (kind) return { kind, why: `content: ${c.name}-compressed ${inner.why}` };
  }
  // What is inside is unreadable here: the name decides among the kinds a compressed file can be.
  if (byName === 'initrd' || byName === 'kernel' || byName === c.disk) return { kind: byName, why: `name (${c.name}-compressed content)` };
  return { kind: 'file', why: `${c.name}-compressed, and its name says nothing more` };
}

/** A word of a file name: at its start or after - _ . and before one of those or its end. */
const word = (w: string) => new RegExp(`(^|[-_.])(${w})([-_.]|$)`);

/** The kind a file name suggests; `file` when nothing does (the API's default). */
export function kindFromName(fileName: string): Kind {
  const n = fileName.toLowerCase();
  if (/\.iso$/.test(n)) return 'iso';
  if (/\.qcow2$/.test(n)) return 'disk-qcow2';
  if (/\.(img|raw)\.gz$/.test(n) && !word('initrd|initramfs').test(n)) return 'disk-gz';
  if (/\.(img|raw)\.zst$/.test(n) && !word('initrd|initramfs').test(n)) return 'disk-zst';
  if (/\.wim$/.test(n)) return 'wim';
  if (/\.efi(\.signed)?$/.test(n)) return 'efi';
  // Anywhere as a word: `ubuntu-24.04-vmlinuz`, `initrd.img-6.1`, `debian-12-initrd.gz`.
  if (word('vmlinuz|vmlinux|bzimage|kernel').test(n) || /^linux([-_.]|$)/.test(n)) return 'kernel';
  if (word('initrd|initramfs').test(n)) return 'initrd';
  if (/\.(img|raw)$/.test(n)) return 'disk-raw';
  return 'file';
}
