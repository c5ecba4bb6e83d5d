import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, type Cli } from './support.ts';

/** `images upload` names a new image's kind from the file's bytes first (the CLI process against the Node entry). */
describe('edgeboot images upload: the kind of a new image', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  beforeAll(async () => {
    entry = await startCloud('cli-upload-kind');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  it("uploads iPXE's bzImage named like the README's kernels as a kernel, and says why", async () => {
    const path = join(cli.home, 'ubuntu-24.04-vmlinuz');
    copyFileSync('/boot/ipxe.lkrn', path);
    const r = await cli.run(['images', 'upload', path]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('new image ubuntu-24.04-vmlinuz: kind kernel (content: x86 Linux kernel (bzImage); --kind sets another)\n');
    const image = (await api(entry, 'GET', '/v1/images?limit=500')).body.items.find((i: { name: string }) => i.name === 'ubuntu-24.04-vmlinuz');
    expect(image).toMatchObject({ kind: 'kernel', status: 'ready', arch: 'x86-64' });
  });

  it('keeps --kind over the guess, and guesses file for bytes and a name that say nothing', async () => {
    const script = join(cli.home, 'boot.ipxe');
    writeFileSync(script, '#!ipxe\nshell\n');
    const plain = await cli.run(['images', 'upload', script]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain('new image boot.ipxe: kind file (neither its content nor its name says; --kind sets another)');
    const efi = join(cli.home, 'loader');
    copyFileSync('/boot/ipxe.efi', efi);
    const forced = await cli.run(['images', 'upload', efi, '--kind', 'file']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).not.toContain('new image loader: kind');
    const items = (await api(entry, 'GET', '/v1/images?limit=500')).body.items as { name: string; kind: string }[];
    expect(items.find((i) => i.name === 'boot.ipxe')?.kind).toBe('file');
    expect(items.find((i) => i.name === 'loader')?.kind).toBe('file');
  });
});
