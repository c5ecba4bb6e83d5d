/**
 * The relay's modern iPXE binaries for tests, without a build step: relay/build/boot-files.ts writes
 * them (Debian trixie's `ipxe`, fetched through apt and cached under .cache/debian) into
 * .cache/boot-files once; later calls find the folder complete and return at once.
 */
import { join, resolve } from 'node:path';
import { buildBootFiles, type BootFilesManifest } from '../../../relay/build/boot-files.ts';

export const MODERN_IPXE_DIR = resolve(import.meta.dirname, '../../../.cache/boot-files');

let built: Promise<BootFilesManifest> | undefined;

/** The folder (build it first if needed); its manifest says which package version it holds. */
export async function modernIpxe(): Promise<{ dir: string; manifest: BootFilesManifest }> {
  built ??= buildBootFiles(MODERN_IPXE_DIR);
  built.catch(() => (built = undefined));
  return { dir: MODERN_IPXE_DIR, manifest: await built };
}

/** Just the folder, for a relay.toml `boot_files` line. */
export async function modernIpxeDir(): Promise<string> {
  return (await modernIpxe()).dir;
}

export const modernIpxeFile = (name: string) => join(MODERN_IPXE_DIR, name);
