/**
 * The iPXE binaries a relay serves, from Debian's `ipxe` package of a newer suite (trixie:
 * 1.21.1+git20250501 — HTTPS, an arm64 binary, and no 13–17 s wait for an IPv6 router advertisement,
 * FIELD-NOTES "A newer iPXE from Debian"). Fetched only through apt from the Debian archive the machine
 * already uses (imager/build/debian-package.ts, suite.ts), unpacked under `.cache/debian`, and copied
 * into one flat folder with a manifest:
 *
 *   <out>/undionly.kpxe, ipxe.efi, snponly.efi, ipxe-arm64.efi, …   regular files (symlinks dereferenced:
 *                                                                    Debian's ipxe.efi → ipxe-amd64.efi)
 *   <out>/manifest.json   { package, version, suite, files: { name: { bytes, sha256 } } }
 *
 * The folder is assembled beside its final place and renamed into it, so a relay or a parallel test
 * never reads half of one. Who calls it: `npm run build:boot-files`, `npm run build:relay` (relay/dist/boot,
 * the relay's default `boot_files`), and tests (test/relay/support/boot-files.ts, under .cache).
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { debianPackage } from '../../imager/build/debian-package.ts';
import { DEFAULT_SUITE_DIR } from '../../imager/build/suite.ts';
import { DEFAULT_BOOT_FILES, SNP_ONLY_FILE } from '../src/dhcp/boot-target.ts';

export const BOOT_FILES_PACKAGE = 'ipxe';
export const BOOT_FILES_SUITE = 'trixie';
export const MANIFEST = 'manifest.json';

/**
 * What is copied, from the package's usr/lib/ipxe: the names DHCP hands out by default (one list,
 * relay/src/dhcp/boot-target.ts DEFAULT_BOOT_FILES: undionly.kpxe for BIOS, ipxe.efi for x64 UEFI,
 * ipxe-arm64.efi for arm64 UEFI), and the documented alternatives of `[dhcp.binaries]`: snponly.efi,
 * undionly.kkpxe and ipxe.pxe.
 */
export const BOOT_FILE_NAMES = [DEFAULT_BOOT_FILES.bios, 'undionly.kkpxe', 'ipxe.pxe', DEFAULT_BOOT_FILES.uefiX64, SNP_ONLY_FILE, DEFAULT_BOOT_FILES.uefiArm64!] as const;

export interface BootFilesManifest {
  package: string;
  version: string;
  suite: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface BuildOptions {
  /** Where Debian packages are downloaded and unpacked (default `.cache/debian`). */
  cacheDir?: string;
}

/** The manifest of a built folder, or null when there is none (or it is not one of ours). */
export function readManifest(dir: string): BootFilesManifest | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as BootFilesManifest;
    return typeof m.version === 'string' && m.files && typeof m.files === 'object' ? m : null;
  } catch {
    return null;
  }
}

/**
 * Writes the binaries of the suite's current `ipxe` into `outDir` (replacing an older build) and
 * returns the manifest. A folder that already holds this version, every file present, is kept as is.
 */
export async function buildBootFiles(outDir: string, opts: BuildOptions = {}): Promise<BootFilesManifest> {
  const out = resolve(outDir);
  const pkg = await debianPackage(opts.cacheDir ?? DEFAULT_SUITE_DIR, BOOT_FILES_PACKAGE, { suite: BOOT_FILES_SUITE });
  const current = readManifest(out);
  if (current && current.version === pkg.version && BOOT_FILE_NAMES.every((n) => current.files[n] && existsSync(join(out, n)))) return current;

  const src = join(pkg.root, 'usr/lib/ipxe');
  mkdirSync(dirname(out), { recursive: true });
  const work = mkdtempSync(join(dirname(out), `.${basename(out)}.tmp-`));
  try {
    const manifest: BootFilesManifest = { package: BOOT_FILES_PACKAGE, version: pkg.version, suite: BOOT_FILES_SUITE, files: {} };
    for (const name of BOOT_FILE_NAMES) {
      // readFileSync follows the symlink: the folder holds the bytes, never a link into another tree.
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(src, name));
      } catch (e) {
        throw new Error(`${BOOT_FILES_PACKAGE} ${pkg.version} (${BOOT_FILES_SUITE}) has no usr/lib/ipxe/${name}: ${(e as Error).message}`);
      }
      writeFileSync(join(work, name), bytes, { mode: 0o644 });
      manifest.files[name] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
    writeFileSync(join(work, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    chmodSync(work, 0o755); // mkdtemp makes it 0700; the relay usually runs as its own user

    // rename() cannot replace a non-empty directory: move the old one aside first. Two builders racing
    // here both end with a complete folder of the same version.
    if (existsSync(out)) {
      const old = `${work}.old`;
      try {
        renameSync(out, old);
        rmSync(old, { recursive: true, force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    try {
      renameSync(work, out);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // Another builder renamed its (identical) folder into place between our two renames.
      const theirs = readManifest(out);
      if (theirs?.version !== manifest.version) throw e;
      return theirs;
    }
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Where `npm run build:relay` puts the folder: beside the bundle, the relay's default `boot_files`. */
export const RELAY_DIST_BOOT = resolve(import.meta.dirname, '../dist/boot');

if (import.meta.main) {
  const out = process.argv[2] ?? RELAY_DIST_BOOT;
  const m = await buildBootFiles(out);
  console.log(`boot files: ${m.package} ${m.version} (${m.suite}) → ${out}`);
  for (const [name, f] of Object.entries(m.files)) console.log(`  ${name.padEnd(16)} ${String(f.bytes).padStart(8)}  sha256 ${f.sha256}`);
}
