/**
 * A Debian kernel package, downloaded with `apt-get download` and unpacked (never installed), for
 * initramfs images: the test OS of the end-to-end tests and the imager alike.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { candidate, debianPackage } from './debian-package.ts';

/**
 * Debian's kernel flavours, by metapackage. `cloud-amd64` (bookworm: ~27 MB .deb, LZ4 vmlinuz ~14 MB)
 * has virtio-net, virtio-blk and ata_piix but no e1000/e1000e/ahci, so VMs need
 * `-device virtio-net-pci`; `amd64` (~71 MB .deb, XZ vmlinuz ~8 MB) drives every qemu NIC and the
 * NICs and disk controllers of real servers.
 */
export const KERNEL_METAPACKAGES = { 'cloud-amd64': 'linux-image-cloud-amd64', amd64: 'linux-image-amd64' } as const;
export type KernelFlavour = keyof typeof KERNEL_METAPACKAGES;

export interface DebianKernel {
  /** The bzImage (also an EFI executable: Debian enables CONFIG_EFI_STUB). */
  vmlinuz: string;
  /** `<unpacked>/lib/modules/<version>` (no modules.dep: Debian's depmod runs at install time). */
  modulesDir: string;
  /** Kernel release, e.g. `6.1.0-57-cloud-amd64`. */
  version: string;
  /** The versioned package it came from, e.g. `linux-image-6.1.0-57-cloud-amd64` `6.1.192-3`. */
  package: string;
  packageVersion: string;
}

/**
 * The kernel apt would install for `flavour` (default `cloud-amd64`: the smallest that boots in qemu),
 * downloaded once into `cacheDir` and unpacked there.
 */
export async function debianKernel(cacheDir: string, opts: { flavour?: KernelFlavour } = {}): Promise<DebianKernel> {
  const meta = KERNEL_METAPACKAGES[opts.flavour ?? 'cloud-amd64'];
  const pkg = (await candidate(meta)).depends.find((d) => /^linux-image-\d/.test(d));
  if (!pkg) throw new Error(`${meta} depends on no versioned linux-image package`);
  const unpacked = await debianPackage(cacheDir, pkg);
  const version = pkg.slice('linux-image-'.length);
  const kernel = {
    vmlinuz: join(unpacked.root, 'boot', `vmlinuz-${version}`),
    modulesDir: join(unpacked.root, 'lib', 'modules', version),
    version,
    package: pkg,
    packageVersion: unpacked.version,
  };
  for (const p of [kernel.vmlinuz, kernel.modulesDir]) if (!existsSync(p)) throw new Error(`${pkg} unpacked without ${p}`);
  return kernel;
}
