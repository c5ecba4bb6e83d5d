import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { debianBinaries, type DebianBinary } from '../unit/debian-binaries.ts';
import { api, makeCli, startCloud, succeeding, type Cli } from './support.ts';

/**
 * The signed chain from the command line and the fleet file, with the real files: trixie's
 * shimx64.efi.signed and grubnetx64.efi.signed, Debian's ipxe-arm64.efi and ipxe.lkrn, and the e2e
 * tests' signed kernel, uploaded with `images upload` as an operator would.
 */
describe('edgeboot and the signed chain (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  let files: Record<string, DebianBinary>;

  beforeAll(async () => {
    files = await debianBinaries();
    entry = await startCloud('cli-signed-chain');
    cli = await makeCli(entry);
  }, 600_000);
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  const { ok, okJson } = succeeding(() => cli);

  it('uploads shimx64.efi.signed as an efi image and shows what its bytes are', async () => {
    const shim = await okJson('images', 'upload', files.shim!.path, '-q');
    expect(shim.image).toMatchObject({ name: 'shimx64.efi.signed', kind: 'efi', arch: 'x86-64', binary: { format: 'pe', cpu: 'x86-64', subsystem: 10 } });
    await ok('images', 'upload', files.grub!.path, '--name', 'grubx64', '-q');
    await ok('images', 'upload', files.kernel!.path, '--name', 'vmlinuz-signed', '-q');
    await ok('images', 'upload', files.ipxeArm64!.path, '-q');
    await ok('images', 'upload', files.ipxeLkrn!.path, '--name', 'vmlinuz-unsigned', '--kind', 'kernel', '-q');
    expect((await ok('images', 'show', 'shimx64.efi.signed')).stdout).toMatch(/^binary:\s+x86-64 EFI application, signed$/m);
    expect((await ok('images', 'list')).stdout).toMatch(/^ipxe-arm64\.efi\s+efi\s+arm64\s+ready\s/m);
  });

  it('sets an image arch, and says why it will not contradict the bytes', async () => {
    await ok('images', 'create', 'arm-initrd', '--kind', 'initrd', '--arch', 'arm64');
    expect((await okJson('images', 'show', 'arm-initrd')).arch).toBe('arm64');
    expect((await okJson('images', 'update', 'arm-initrd', '--arch', 'any')).arch).toBe('any');
    const refused = await cli.run(['images', 'update', 'shimx64.efi.signed', '--arch', 'arm64']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('its arch is x86-64, not arm64');
  });

  it('creates a linux profile with --shim and --grub by image name, its arch from the kernel', async () => {
    const p = await okJson('profiles', 'create', 'debian-sb', '--kind', 'linux', '--kernel', 'vmlinuz-signed', '--cmdline', 'console=ttyS0', '--shim', 'shimx64.efi.signed', '--grub', 'grubx64');
    const images = (await api(entry, 'GET', '/v1/images?limit=500')).body.items as { id: string; name: string }[];
    const id = (name: string) => images.find((i) => i.name === name)!.id;
    expect(p.spec).toEqual({ kind: 'linux', arch: 'x86-64', kernel: id('vmlinuz-signed'), initrds: [], cmdline: 'console=ttyS0', shim: id('shimx64.efi.signed'), grub: id('grubx64') });
    expect((await ok('profiles', 'list')).stdout).toMatch(/^debian-sb\s+linux\s+x86-64\s+kernel vmlinuz-signed, shim shimx64\.efi\.signed → grub grubx64\s+prf_/m);
    const shown = (await ok('profiles', 'show', 'debian-sb')).stdout;
    expect(shown).toContain('  shim: shimx64.efi.signed');
    expect(shown).toContain('  grub: grubx64');
  });

  it('refuses an arm64 GRUB, an unsigned kernel under shim and a lone --shim, with the reasons', async () => {
    const arm = await cli.run(['profiles', 'create', 'bad-1', '--kind', 'linux', '--kernel', 'vmlinuz-signed', '--shim', 'shimx64.efi.signed', '--grub', 'ipxe-arm64.efi']);
    expect(arm.code).toBe(5);
    expect(arm.stderr).toContain('GRUB image ipxe-arm64.efi is an arm64 EFI binary; UEFI x64 machines need an x86-64 one');
    const unsigned = await cli.run(['profiles', 'create', 'bad-2', '--kind', 'linux', '--kernel', 'vmlinuz-unsigned', '--shim', 'shimx64.efi.signed', '--grub', 'grubx64']);
    expect(unsigned.stderr).toContain('kernel vmlinuz-unsigned has no Secure Boot signature: GRUB under shim would refuse it');
    const lone = await cli.run(['profiles', 'create', 'bad-3', '--kind', 'linux', '--kernel', 'vmlinuz-signed', '--shim', 'shimx64.efi.signed']);
    expect(lone.stderr).toContain('a shim and a GRUB go together');
    const bad = await cli.run(['profiles', 'create', 'bad-4', '--kind', 'linux', '--kernel', 'vmlinuz-signed', '--arch', 'sparc']);
    expect(bad.code).toBe(2);
    expect((await api(entry, 'GET', '/v1/profiles?limit=500')).body.items.map((p: { name: string }) => p.name)).toEqual(['debian-sb']);
  });

  it('drops the old arch when a profile update changes the kernel, keeps it otherwise', async () => {
    await ok('images', 'create', 'arm-kernel', '--kind', 'kernel', '--arch', 'arm64');
    await ok('profiles', 'create', 'plain', '--kind', 'linux', '--kernel', 'vmlinuz-signed');
    expect((await okJson('profiles', 'update', 'plain', '--cmdline', 'quiet')).spec.arch).toBe('x86-64');
    expect((await okJson('profiles', 'update', 'plain', '--kernel', 'arm-kernel')).spec.arch).toBe('arm64');
  });

  it('records Secure Boot on machines and explains the loader', async () => {
    await ok('sites', 'create', 'paris');
    const m = await okJson('machines', 'create', '52:54:00:5b:00:01', '--site', 'paris', '--arch', 'uefi-x64', '--secure-boot', 'on');
    expect(m.secureBoot).toBe(true);
    await ok('profiles', 'create', 'plain-x86', '--kind', 'linux', '--kernel', 'vmlinuz-signed');
    await ok('assign', '52:54:00:5b:00:01', 'plain-x86');
    const refused = (await ok('machines', 'explain', '52:54:00:5b:00:01')).stdout;
    expect(refused).toMatch(/^action:\s+local$/m);
    expect(refused).toContain('Secure Boot is on for this machine and profile plain-x86 boots through iPXE, which its firmware refuses: give plain-x86 a --shim and --grub');
    expect((await ok('machines', 'show', '52:54:00:5b:00:01')).stdout).toMatch(/^secure boot:\s+on$/m);

    await ok('machines', 'create', '52:54:00:5b:00:02', '--site', 'paris', '--arch', 'uefi-x64', '--secure-boot', 'on');
    await ok('assign', '52:54:00:5b:00:02', 'debian-sb');
    expect((await ok('machines', 'explain', '52:54:00:5b:00:02')).stdout).toMatch(/^loader:\s+shim → GRUB \(signed chain\)$/m);
    expect((await okJson('machines', 'explain', '52:54:00:5b:00:02')).loader).toBe('shim');

    expect((await okJson('machines', 'update', '52:54:00:5b:00:01', '--secure-boot', 'unknown')).secureBoot).toBeNull();
    expect((await okJson('machines', 'update', '52:54:00:5b:00:01', '--secure-boot', 'off')).secureBoot).toBe(false);
    const bad = await cli.run(['machines', 'update', '52:54:00:5b:00:01', '--secure-boot', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('one of on, off, unknown');
  });

  it('applies a fleet file with shim, grub, arch and secureBoot, and a second apply changes nothing', async () => {
    const file = join(cli.home, 'fleet.yaml');
    writeFileSync(
      file,
      [
        'profiles:',
        '  - name: fleet-sb',
        '    spec: { kind: linux, kernel: vmlinuz-signed, shim: shimx64.efi.signed, grub: grubx64, cmdline: quiet }',
        '  - name: fleet-arm',
        '    spec: { kind: linux, kernel: vmlinuz-signed, arch: any }',
        'machines:',
        '  - { mac: "52:54:00:5b:00:10", site: paris, arch: uefi-x64, secureBoot: true }',
        '',
      ].join('\n'),
    );
    // arch: any on an x86-64 kernel is refused by the server, with its reason.
    const refused = await cli.run(['apply', '-f', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('a profile that boots it cannot be for any architecture');

    writeFileSync(file, (await import('node:fs')).readFileSync(file, 'utf8').replace('arch: any', 'arch: x86-64'));
    const applied = await cli.run(['--json', 'apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const sb = (await api(entry, 'GET', '/v1/profiles?limit=500')).body.items.find((p: { name: string }) => p.name === 'fleet-sb');
    expect(sb.spec).toMatchObject({ arch: 'x86-64', shim: expect.stringMatching(/^img_/), grub: expect.stringMatching(/^img_/) });
    expect((await api(entry, 'GET', '/v1/machines/52:54:00:5b:00:10')).body.secureBoot).toBe(true);

    // The arch the server filled in for fleet-sb is not a difference from the file.
    const again = await cli.run(['--json', 'apply', '-f', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().summary).toMatchObject({ create: 0, update: 0, delete: 0 });
  });
});
