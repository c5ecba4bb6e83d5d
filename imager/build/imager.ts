/**
 * The imager: a Debian kernel and an initramfs of busybox, zstd and coreutils' tee/dd/wc (with their
 * libraries and loader, from Debian packages), the NIC and disk drivers, and imager/rootfs (init, edgeboot-imager, edgeboot-inventory, the udhcpc
 * script). Everything comes from packages fetched with `apt-get download` and unpacked, never
 * installed; `npm run build:imager` (scripts/build-imager.ts) calls this.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeCpio, type CpioEntry } from './cpio.ts';
import { candidate, debianPackage } from './debian-package.ts';
import { debianKernel, type DebianKernel, type KernelFlavour } from './debian-kernel.ts';
import { busyboxEntries, programEntries, text, withParents, writeAtomically, type ProgramOptions } from './initramfs.ts';
import { hasModule, moduleBytes, resolveModules } from './kernel-modules.ts';

export const IMAGER_ROOTFS = resolve(import.meta.dirname, '../rootfs');

/**
 * Drivers the imager loads when the kernel ships them (each with its dependencies): what servers and
 * small boxes netboot with and write to. Firmware blobs (bnx2x, ice, some Realtek parts) live in
 * Debian's non-free firmware packages and are not included.
 */
export const IMAGER_MODULES = {
  virtual: ['virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'vmxnet3', 'vmw_pvscsi', 'hv_netvsc', 'hv_storvsc'],
  nics: ['e1000', 'e1000e', 'igb', 'igc', 'ixgbe', 'i40e', 'ice', 'r8169', 'tg3', 'bnx2', 'bnx2x', 'bnxt_en', 'be2net', 'mlx4_en', 'mlx5_core', 'atlantic', 'ena', 'sfc', 'qede'],
  // efivarfs: the SecureBoot variable for the inventory (edgeboot-inventory); a module in Debian's kernels.
  firmware: ['efivarfs'],
  disks: ['nvme', 'ahci', 'ata_piix', 'sd_mod', 'megaraid_sas', 'mpt3sas', 'hpsa', 'smartpqi', 'aacraid', 'sdhci_pci', 'mmc_block', 'xhci_pci', 'ehci_pci', 'usb_storage', 'uas'],
} as const;

export interface ImagerOptions {
  /** Downloaded and unpacked Debian packages (reused across builds). */
  cacheDir: string;
  /** Where vmlinuz and the initramfs go. */
  outDir: string;
  /** Debian kernel flavour (default `amd64`: real hardware; `cloud-amd64` is enough for VMs). */
  flavour?: KernelFlavour;
  /** File name of the initramfs in outDir (default `initramfs.img`). */
  initramfsName?: string;
  /** More programs to copy in with their libraries (the benchmark adds the host's curl). */
  extraPrograms?: ProgramOptions[];
  /** Entries that take precedence over the imager's own (the benchmark's reference init). */
  overrides?: CpioEntry[];
}

export interface ImagerBuild {
  vmlinuz: string;
  initramfs: string;
  kernel: DebianKernel;
  /** Modules in the order init loads them. */
  modules: string[];
  /** Wanted drivers this kernel has neither built in nor as a module. */
  absentModules: string[];
  /** Shared libraries copied for zstd, coreutils (and the extra programs). */
  libraries: string[];
}

export async function buildImager(o: ImagerOptions): Promise<ImagerBuild> {
  const kernel = await debianKernel(o.cacheDir, { flavour: o.flavour ?? 'amd64' });
  const wanted = Object.values(IMAGER_MODULES).flat();
  const present = wanted.filter((m) => hasModule(kernel.modulesDir, m));
  const mods = resolveModules(kernel.modulesDir, present);

  const zstd = await zstdEntries(o.cacheDir);
  const coreutils = await coreutilsEntries(o.cacheDir);
  const extra = (o.extraPrograms ?? []).map((p) => programEntries(p));
  const rootfs = (name: string) => readFileSync(join(IMAGER_ROOTFS, name));
  const release = `kernel=${kernel.version} (${kernel.package} ${kernel.packageVersion})\nbuilt=${new Date().toISOString()}\n`;
  const entries: CpioEntry[] = [
    // withParents keeps the first entry of a path: overrides win.
    ...(o.overrides ?? []),
    ...busyboxEntries(),
    ...coreutils.entries,
    ...zstd.entries,
    ...extra.flatMap((x) => x.entries),
    ...mods.map((m): CpioEntry => ({ type: 'file', path: `lib/modules/${m.name}.ko`, data: moduleBytes(m.path) })),
    { type: 'file', path: 'etc/edgeboot/modules', data: text(`${mods.map((m) => m.name).join('\n')}\n`) },
    { type: 'file', path: 'etc/edgeboot/release', data: text(release) },
    { type: 'file', path: 'usr/share/udhcpc/default.script', data: rootfs('udhcpc.script'), mode: 0o755 },
    { type: 'file', path: 'bin/edgeboot-imager', data: rootfs('edgeboot-imager'), mode: 0o755 },
    { type: 'file', path: 'bin/edgeboot-inventory', data: rootfs('edgeboot-inventory'), mode: 0o755 },
    { type: 'file', path: 'init', data: rootfs('init'), mode: 0o755 },
  ];
  mkdirSync(o.outDir, { recursive: true });
  const vmlinuz = join(o.outDir, 'vmlinuz');
  writeAtomically(vmlinuz, readFileSync(kernel.vmlinuz));
  const initramfs = join(o.outDir, o.initramfsName ?? 'initramfs.img');
  writeAtomically(initramfs, gzipSync(encodeCpio(withParents(entries)), { level: 6 }));
  return {
    vmlinuz,
    initramfs,
    kernel,
    modules: mods.map((m) => m.name),
    absentModules: wanted.filter((m) => !present.includes(m)),
    libraries: [...new Set([...zstd.libraries, ...coreutils.libraries, ...extra.flatMap((x) => x.libraries)])],
  };
}

/**
 * Programs from Debian packages with the libraries their DT_NEEDED names, looked up in the package's
 * dependencies (one more level when a library sits in a dependency's dependency).
 */
export async function debianPrograms(cacheDir: string, pkg: string, programs: ReadonlyArray<Omit<ProgramOptions, 'roots'>>): Promise<{ entries: CpioEntry[]; libraries: string[] }> {
  const roots = [(await debianPackage(cacheDir, pkg)).root];
  const seen = new Set([pkg]);
  let frontier = (await candidate(pkg)).depends;
  for (let level = 0; level < 2; level++) {
    const next: string[] = [];
    for (const name of frontier) {
      if (seen.has(name)) continue;
      seen.add(name);
      roots.push((await debianPackage(cacheDir, name)).root);
      if (level === 0) next.push(...(await candidate(name)).depends);
    }
    try {
      const each = programs.map((p) => programEntries({ ...p, roots }));
      return { entries: each.flatMap((x) => x.entries), libraries: [...new Set(each.flatMap((x) => x.libraries))] };
    } catch (e) {
      if (level === 1) throw e;
    }
    frontier = next;
  }
  throw new Error('unreachable');
}

/** Debian's zstd (busybox has no zstd applet), with liblzma, liblz4, zlib and libc. */
export const zstdEntries = (cacheDir: string) => debianPrograms(cacheDir, 'zstd', [{ binary: '/usr/bin/zstd', dest: 'bin/zstd' }]);

/** Where coreutils' programs go: not /bin, where busybox's applet links keep their names. */
export const COREUTILS_DIR = 'usr/lib/edgeboot';

/**
 * coreutils' tee, dd, wc and sha256sum for the imager's data path: Debian builds busybox's tee without
 * block I/O (a getc/putc per byte: `curl | tee fifo | dd` of 128 MiB took 37.7 s under qemu TCG, 5.4 s
 * with coreutils' tee and sha256sum, against 3.5 s for `curl | dd`); coreutils' dd also reports the
 * bytes it copied. The agent calls them by path: Debian's busybox sh runs its own applets for bare
 * names whatever PATH says.
 */
export const coreutilsEntries = (cacheDir: string) =>
  debianPrograms(
    cacheDir,
    'coreutils',
    // Debian 12's coreutils still ships some programs (dd) in /bin.
    ['tee', 'dd', 'wc', 'sha256sum'].map((p) => ({ binary: [`/usr/bin/${p}`, `/bin/${p}`], dest: `${COREUTILS_DIR}/${p}` })),
  );
