/**
 * Real Debian boot binaries for tests, fetched with `apt-get download` (trixie's shim 16, GRUB 2.12
 * and iPXE; the e2e tests' signed kernel) into the caches the e2e tests use. Node only.
 */
import { join } from 'node:path';
import { debianKernel } from '../../imager/build/debian-kernel.ts';
import { debianPackage } from '../../imager/build/debian-package.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
export const DEBIAN_CACHE = join(ROOT, '.cache', 'debian');
export const KERNEL_CACHE = process.env.EDGEBOOT_E2E_CACHE ?? join(ROOT, '.cache', 'e2e');

export interface DebianBinary {
  path: string;
  /** Package, version and path inside it, for people. */
  source: string;
}

export async function debianBinaries(): Promise<Record<'shim' | 'grub' | 'ipxeEfi' | 'ipxeArm64' | 'ipxeLkrn' | 'kernel', DebianBinary>> {
  const [shim, grub, ipxe, kernel] = await Promise.all([
    debianPackage(DEBIAN_CACHE, 'shim-signed', { suite: 'trixie' }),
    debianPackage(DEBIAN_CACHE, 'grub-efi-amd64-signed', { suite: 'trixie' }),
    debianPackage(DEBIAN_CACHE, 'ipxe', { suite: 'trixie' }),
    debianKernel(KERNEL_CACHE),
  ]);
  const at = (p: { package: string; version: string; root: string }, rel: string): DebianBinary => ({ path: join(p.root, rel), source: `${p.package} ${p.version}: /${rel}` });
  return {
    shim: at(shim, 'usr/lib/shim/shimx64.efi.signed'),
    grub: at(grub, 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'),
    ipxeEfi: at(ipxe, 'usr/lib/ipxe/ipxe.efi'),
    ipxeArm64: at(ipxe, 'usr/lib/ipxe/ipxe-arm64.efi'),
    ipxeLkrn: at(ipxe, 'usr/lib/ipxe/ipxe.lkrn'),
    kernel: { path: kernel.vmlinuz, source: `${kernel.package} ${kernel.packageVersion}: /boot/vmlinuz-${kernel.version}` },
  };
}
