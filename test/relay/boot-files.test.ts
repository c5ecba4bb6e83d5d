import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOT_FILE_NAMES, buildBootFiles, readManifest } from '../../relay/build/boot-files.ts';
import { DEFAULT_BOOT_FILES_DIR, loadConfig } from '../../relay/src/config.ts';
import { DEFAULT_BOOT_FILES } from '../../relay/src/dhcp/boot-target.ts';
import { MEMORY_BOOT_FILES } from '../../relay/src/tftp/service.ts';
import { modernIpxe } from './support/boot-files.ts';
import { tempDir } from './support/relay-harness.ts';

/**
 * The relay's own iPXE binaries: Debian trixie's `ipxe` package through apt (real download from the
 * Debian archive the first time, then the .cache/debian copy), flattened into one folder with a manifest.
 */

/** The machine type of a PE image (IMAGE_FILE_HEADER.Machine): 0x8664 x86-64, 0xaa64 arm64. */
function peMachine(bytes: Buffer): number {
  expect(bytes.subarray(0, 2).toString('latin1')).toBe('MZ');
  const pe = bytes.readUInt32LE(0x3c);
  expect(bytes.subarray(pe, pe + 4).toString('latin1')).toBe('PE\0\0');
  return bytes.readUInt16LE(pe + 4);
}

describe('the relay boot files (relay/build/boot-files.ts)', () => {
  it("holds trixie's iPXE as regular files, each matching its manifest digest", async () => {
    const { dir, manifest } = await modernIpxe();
    expect(manifest).toMatchObject({ package: 'ipxe', suite: 'trixie', version: expect.stringMatching(/^1\.21\.1\+git2025/) });
    expect(Object.keys(manifest.files).sort()).toEqual([...BOOT_FILE_NAMES].sort());
    for (const name of BOOT_FILE_NAMES) {
      const path = join(dir, name);
      expect(lstatSync(path).isFile(), `${name} is a regular file, not a link`).toBe(true);
      const bytes = readFileSync(path);
      expect(manifest.files[name]).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    // Debian's ipxe.efi is a symlink to ipxe-amd64.efi: the folder holds the x86-64 image itself.
    expect(peMachine(readFileSync(join(dir, 'ipxe.efi'))).toString(16)).toBe('8664');
    expect(peMachine(readFileSync(join(dir, 'snponly.efi'))).toString(16)).toBe('8664');
    expect(peMachine(readFileSync(join(dir, 'ipxe-arm64.efi'))).toString(16)).toBe('aa64');
    expect(readManifest(dir)).toEqual(manifest);
  });

  it('holds every binary the relay hands out by default and keeps in memory', async () => {
    const { manifest } = await modernIpxe();
    for (const name of [DEFAULT_BOOT_FILES.bios, DEFAULT_BOOT_FILES.uefiX64, DEFAULT_BOOT_FILES.uefiArm64!, ...MEMORY_BOOT_FILES]) expect(manifest.files[name], name).toBeDefined();
  });

  it('replaces a folder built from another version, and leaves no temporary folder behind', async () => {
    await modernIpxe(); // the package is in .cache/debian: no download here
    const parent = tempDir('boot-files');
    const out = join(parent, 'boot');
    mkdirSync(out);
    writeFileSync(join(out, 'manifest.json'), JSON.stringify({ package: 'ipxe', version: '1.0.0+git-20190125.36a4c85-5.1', suite: 'bookworm', files: {} }));
    writeFileSync(join(out, 'stale.efi'), 'old');
    const m = await buildBootFiles(out);
    expect(m.version).toMatch(/^1\.21\.1/);
    expect(readManifest(out)?.version).toBe(m.version);
    expect(() => lstatSync(join(out, 'stale.efi'))).toThrow(/ENOENT/);
    expect(readdirSync(parent)).toEqual(['boot']);
  });
});

describe('boot_files default', () => {
  it('is the boot folder the build writes beside the bundle (relay/dist/boot from the sources)', () => {
    expect(DEFAULT_BOOT_FILES_DIR).toBe(resolve(import.meta.dirname, '../../relay/dist/boot'));
    expect(loadConfig(null, { 'public-url': 'http://10.0.0.2:8080' }).boot_files).toBe(DEFAULT_BOOT_FILES_DIR);
    expect(loadConfig(null, { 'public-url': 'http://10.0.0.2:8080', 'boot-files': '/usr/lib/ipxe' }).boot_files).toBe('/usr/lib/ipxe');
  });
});
