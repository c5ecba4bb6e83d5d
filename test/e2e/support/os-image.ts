/**
 * The "OS" end-to-end tests netboot in qemu: a kernel from Debian's kernel package (downloaded and
 * unpacked at test time, never installed) with a busybox initramfs built at test time, whose /init
 * prints a marker line carrying a token from the kernel command line, reports to the callback URL and
 * powers off; and a small disk image that BIOS (syslinux) and UEFI (systemd-boot) firmware boot from
 * local disk to print a second marker line.
 *
 * Console contract (ttyS0 when the command line has `console=ttyS0`):
 *   EDGEBOOT-MARKER token=<edgeboot.token> marker=<edgeboot.marker>   always, before any networking
 *   EDGEBOOT-CALLBACK status=ok|failed                                 after POST <edgeboot.callback>/succeeded
 *   EDGEBOOT-LOCAL marker=<marker>                                     the local disk's initramfs
 * plus diagnostic lines starting `edgeboot: `.
 *
 * Host tools: apt-get + dpkg-deb (kernel, systemd-boot), busybox-static, and for the disk syslinux,
 * syslinux-common and mtools.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { encodeCpio, type CpioEntry } from '../../../imager/build/cpio.ts';
import { debianKernel, type DebianKernel } from '../../../imager/build/debian-kernel.ts';
import { debianPackage } from '../../../imager/build/debian-package.ts';
import { busyboxEntries, text, withParents, writeAtomically } from '../../../imager/build/initramfs.ts';
import { hasModule, moduleBytes, resolveModules } from '../../../imager/build/kernel-modules.ts';

export { debianKernel, KERNEL_METAPACKAGES, type DebianKernel, type KernelFlavour } from '../../../imager/build/debian-kernel.ts';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');

/** Where downloaded packages go unless a caller says otherwise (the same folder as support/machines.ts). */
export const E2E_CACHE = process.env.EDGEBOOT_E2E_CACHE ?? join(ROOT, '.cache', 'e2e');

/**
 * Modules the netboot initramfs loads when the kernel has them: the NIC drivers of qemu's
 * `virtio-net-pci` and default `e1000` (q35: `e1000e`), and virtio-blk for images written to disk.
 */
export const DEFAULT_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'e1000', 'e1000e'] as const;

export interface InitramfsOptions {
  kernel: DebianKernel;
  /** Where to write the gzip'd newc cpio (written to a temporary name, then renamed). */
  out: string;
  /**
   * busybox sh text /init runs after the callback, before the power-off. It sees `$token`, `$callback`,
   * `$marker`, `$ifc` (the configured interface, empty without one) and `$status` (ok | failed), and
   * may call `say` (prints an `edgeboot: ` line). It must end by itself: nothing bounds its time.
   */
  extraInit?: string;
  /** Modules to load (with their dependencies); default: those of DEFAULT_MODULES the kernel has. */
  modules?: readonly string[];
}

/** Builds the netboot test OS's initramfs; returns `out`. */
export async function buildInitramfs(opts: InitramfsOptions): Promise<string> {
  const wanted = opts.modules ?? DEFAULT_MODULES.filter((m) => hasModule(opts.kernel.modulesDir, m));
  const mods = resolveModules(opts.kernel.modulesDir, wanted);
  const entries = [
    ...busyboxEntries(),
    ...mods.map((m): CpioEntry => ({ type: 'file', path: `lib/modules/${m.name}.ko`, data: moduleBytes(m.path) })),
    { type: 'file', path: 'usr/share/udhcpc/default.script', data: text(UDHCPC_SCRIPT), mode: 0o755 },
    { type: 'file', path: 'init', data: text(netbootInit(mods.map((m) => m.name), opts.extraInit ?? '')), mode: 0o755 },
  ] satisfies CpioEntry[];
  writeAtomically(opts.out, gzipSync(encodeCpio(withParents(entries)), { level: 9 }));
  return opts.out;
}

/**
 * A raw disk that boots to `EDGEBOOT-LOCAL marker=<marker>` and powers off, under BIOS and UEFI:
 * an MBR (syslinux's mbr.bin) with one active FAT partition of type EF (EFI System) holding
 * - BIOS: syslinux (VBR + ldlinux.sys/.c32) and syslinux.cfg;
 * - UEFI: \EFI\BOOT\BOOTX64.EFI = systemd-boot (from Debian's systemd-boot-efi, unpacked, not
 *   installed) with loader/loader.conf and one entry, `timeout 0`;
 * - both: /vmlinuz and /local.gz (busybox only, no modules, no network).
 * Returns `out`. The kernel comes from `opts.kernel`, else `debianKernel(opts.cacheDir ?? E2E_CACHE)`.
 */
export async function buildLocalDisk(out: string, marker: string, opts: { kernel?: DebianKernel; cacheDir?: string } = {}): Promise<string> {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(marker)) throw new Error(`local-disk marker ${JSON.stringify(marker)}: use 1–64 of A-Z a-z 0-9 . _ : -`);
  const cacheDir = opts.cacheDir ?? E2E_CACHE;
  const kernel = opts.kernel ?? (await debianKernel(cacheDir));
  const sdboot = await debianPackage(cacheDir, 'systemd-boot-efi');
  const bootx64 = join(sdboot.root, 'usr/lib/systemd/boot/efi/systemd-bootx64.efi');
  for (const [path, pkg] of [[bootx64, 'systemd-boot-efi'], [MBR_BIN, 'syslinux-common']] as const) {
    if (!existsSync(path)) throw new Error(`${path} is missing (Debian package ${pkg})`);
  }
  requireCommands({ syslinux: 'syslinux', mformat: 'mtools', mcopy: 'mtools', mmd: 'mtools' });

  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const part = `${tmp}.part`;
  try {
    const initrd = gzipSync(encodeCpio(withParents([...busyboxEntries(), { type: 'file', path: 'init', data: text(localInit(marker)), mode: 0o755 }])), { level: 9 });
    const cmdline = 'console=ttyS0 panic=-1';
    const files: [string, Uint8Array][] = [
      ['vmlinuz', readFileSync(kernel.vmlinuz)],
      ['local.gz', initrd],
      ['syslinux.cfg', text(`DEFAULT local\nPROMPT 0\nTIMEOUT 0\nLABEL local\n  LINUX /vmlinuz\n  INITRD /local.gz\n  APPEND ${cmdline}\n`)],
      ['EFI/BOOT/BOOTX64.EFI', readFileSync(bootx64)],
      ['loader/loader.conf', text('default local.conf\ntimeout 0\n')],
      ['loader/entries/local.conf', text(`title edgeboot local disk\nlinux /vmlinuz\ninitrd /local.gz\noptions ${cmdline}\n`)],
    ];
    const payload = files.reduce((n, [, b]) => n + b.length, 0);
    // 1 MiB cylinders (64 heads × 32 sectors): the partition starts at cylinder 1, FAT needs slack.
    const partMiB = Math.max(15, Math.ceil((payload * 1.1) / MiB) + 2);
    createSparse(part, partMiB * MiB);
    await run('mformat', ['-i', part, '-t', String(partMiB), '-h', String(HEADS), '-n', String(SECTORS), '-H', String(PART_START_LBA), '-N', '0eb00eb0', '-v', 'EDGEBOOT', '::']);
    await run('mmd', ['-i', part, '::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries']);
    for (const [name, bytes] of files) {
      const src = `${tmp}.file`;
      writeFileSync(src, bytes);
      await run('mcopy', ['-i', part, '-o', src, `::/${name}`]);
    }
    // Writes the FAT boot sector code and ldlinux.sys/ldlinux.c32 through mtools: no loop device, no root.
    await run('syslinux', ['--install', part]);

    createSparse(tmp, (partMiB + 1) * MiB);
    const fd = openSync(tmp, 'r+');
    try {
      writeSync(fd, mbr(partMiB * MiB / SECTOR), 0, SECTOR, 0);
      copyInto(fd, part, PART_START_LBA * SECTOR);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, out);
    return out;
  } finally {
    for (const f of [part, tmp, `${tmp}.file`]) rmSync(f, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// The init scripts (busybox sh). Every step is bounded in time and the script ends in a power-off
// whatever happened, so a VM never outlives its test.

/** Common prologue: a usable /dev, /proc and /sys, and quiet kernel logging. */
const PROLOGUE = String.raw`#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
# End whatever partial line firmware or the kernel left on the console (SeaBIOS's last output has no
# newline), so that every marker starts a line of its own.
echo
say() { echo "edgeboot: $*"; }
off() {
  say "powering off"
  sync
  poweroff -f
  # Only reached if ACPI power-off failed.
  sleep 2
  echo o >/proc/sysrq-trigger
  sleep 10
}
# Kernel messages printed to the serial console in the middle of a marker line would garble it.
grep -qw edgeboot.debug /proc/cmdline || dmesg -n 1
`;

function netbootInit(modules: string[], extraInit: string): string {
  return `${PROLOGUE}
set -f
token=; callback=; marker=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    edgeboot.token=*) token=\${arg#*=} ;;
    edgeboot.callback=*) callback=\${arg#*=} ;;
    edgeboot.marker=*) marker=\${arg#*=} ;;
  esac
done
set +f
echo "EDGEBOOT-MARKER token=$token marker=$marker"

for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m.ko || say "insmod $m failed"
done

# The first Ethernet interface (type 1 = ARPHRD_ETHER). A driver may register it a moment after insmod,
# so wait up to 5 s, but only when there is a PCI network controller (class 0x02xxxx) at all.
ifc=
i=0
grep -q '^0x02' /sys/bus/pci/devices/*/class 2>/dev/null || i=20
while [ -z "$ifc" ] && [ $i -le 20 ]; do
  for d in /sys/class/net/*; do
    n=\${d##*/}
    [ "$n" != lo ] && [ "$(cat "$d/type" 2>/dev/null)" = 1 ] && { ifc=$n; break; }
  done
  [ -z "$ifc" ] && { sleep 0.25; i=$((i + 1)); }
done

status=failed
if [ -z "$ifc" ]; then
  say "no Ethernet interface"
elif ! ip link set "$ifc" up || ! timeout 40 udhcpc -i "$ifc" -s /usr/share/udhcpc/default.script -f -q -n -t 8 -T 3; then
  say "no DHCP lease on $ifc"
elif [ -z "$callback" ]; then
  say "no edgeboot.callback on the command line"
elif timeout 30 wget -q -O /tmp/callback.out --header "Content-Type: application/json" --header "Authorization: Bearer $token" --post-data '{}' "\${callback%/}/succeeded"; then
  status=ok
fi
echo "EDGEBOOT-CALLBACK status=$status"

${extraInit}
off
`;
}

function localInit(marker: string): string {
  return `${PROLOGUE}
echo "EDGEBOOT-LOCAL marker=${marker}"
off
`;
}

/** udhcpc calls this with $1 = deconfig | bound | renew | leasefail | nak and the lease in the environment. */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" \${broadcast:+broadcast "$broadcast"} dev "$interface"
    if [ -n "$router" ]; then
      set -- $router
      ip route replace default via "$1" dev "$interface"
    fi
    [ -n "$dns" ] && for d in $dns; do echo "nameserver $d"; done >/etc/resolv.conf
    echo "edgeboot: $interface $ip/\${mask:-24} router \${router:-none}"
    ;;
esac
exit 0
`;

// ---------------------------------------------------------------------------------------------------
// Archive contents

const MBR_BIN = '/usr/lib/syslinux/mbr/mbr.bin';

// ---------------------------------------------------------------------------------------------------
// Disk layout

const SECTOR = 512;
const MiB = 1 << 20;
const HEADS = 64;
const SECTORS = 32;
const PART_START_LBA = HEADS * SECTORS; // 2048: 1 MiB, one cylinder
/** MBR partition type EF: EFI System (OVMF mounts the FAT in it; BIOS boot code ignores the type). */
const TYPE_ESP = 0xef;

/** Sector 0: syslinux's mbr.bin (boots the active partition), a disk signature and one partition. */
function mbr(partSectors: number): Uint8Array {
  const code = readFileSync(MBR_BIN);
  if (code.length > 440) throw new Error(`${MBR_BIN} is ${code.length} bytes; the MBR has room for 440`);
  const b = new Uint8Array(SECTOR);
  const v = new DataView(b.buffer);
  b.set(code, 0);
  v.setUint32(440, 0x0eb00eb0, true);
  const e = 446;
  b[e] = 0x80; // active
  b.set(chs(PART_START_LBA), e + 1);
  b[e + 4] = TYPE_ESP;
  b.set(chs(PART_START_LBA + partSectors - 1), e + 5);
  v.setUint32(e + 8, PART_START_LBA, true);
  v.setUint32(e + 12, partSectors, true);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** CHS triple of an LBA in the 64 × 32 geometry mformat was given (capped at 1023/63/63). */
function chs(lba: number): Uint8Array {
  let c = Math.floor(lba / (HEADS * SECTORS));
  let h = Math.floor(lba / SECTORS) % HEADS;
  let s = (lba % SECTORS) + 1;
  if (c > 1023) [c, h, s] = [1023, HEADS - 1, SECTORS];
  return new Uint8Array([h, ((c >> 2) & 0xc0) | s, c & 0xff]);
}

function createSparse(path: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

function copyInto(fd: number, from: string, at: number): void {
  const src = readFileSync(from);
  writeSync(fd, src, 0, src.length, at);
}

// ---------------------------------------------------------------------------------------------------

async function run(cmd: string, args: string[]): Promise<void> {
  await exec(cmd, args, { maxBuffer: 16 << 20 }).catch((e: Error & { stderr?: string }) => {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  });
}

function requireCommands(cmds: Record<string, string>): void {
  const missing = Object.entries(cmds).filter(([c]) => !(process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, c))));
  if (missing.length) throw new Error(`missing ${missing.map(([c]) => c).join(', ')}: apt-get install ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
}
