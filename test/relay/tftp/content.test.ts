import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkName, firstOf, folderProvider, loadFiles, memoryProvider, type ContentProvider } from '../../../relay/src/tftp/content.ts';
import { makeTree, type Tree } from './support/fixture.ts';

let tree: Tree;
let folder: ContentProvider;
beforeAll(() => {
  tree = makeTree({ 'ok.bin': 3000 });
  mkdirSync(join(tree.root, 'efi'));
  writeFileSync(join(tree.root, 'efi', 'boot.efi'), 'nested');
  folder = folderProvider(tree.root);
});
afterAll(() => tree?.cleanup());

const reason = (p: ContentProvider, name: string) => {
  const r = p.open(name);
  if (r.ok) {
    r.content.close();
    return 'ok';
  }
  return r.reason;
};

describe('TFTP content providers', () => {
  it('strips one leading slash and refuses names before touching the disk', () => {
    expect(checkName('/ipxe.efi')).toEqual({ ok: true, path: 'ipxe.efi' });
    expect(checkName('efi/boot.efi')).toEqual({ ok: true, path: 'efi/boot.efi' });
    for (const bad of ['', '//x', 'a//b', 'a/', './a', 'a/./b', '../a', 'a/..', 'a\\b', 'a\x00b', 'a\x1fb', 'a\x7fb', 'a\x80b', 'é', 'a'.repeat(256)]) {
      expect(checkName(bad).ok, JSON.stringify(bad)).toBe(false);
    }
    expect(checkName('a'.repeat(255)).ok).toBe(true);
  });

  it('reads a file inside the root and a nested one, in ranges', () => {
    const r = folder.open('/ok.bin');
    if (!r.ok) throw new Error(r.reason);
    expect(r.content.size).toBe(3000);
    expect(Buffer.from(r.content.read(1000, 100))).toEqual(tree.files.get('ok.bin')!.subarray(1000, 1100));
    r.content.close();
    expect(reason(folder, 'efi/boot.efi')).toBe('ok');
  });

  it('says why it refuses: links out of the root, directories, FIFOs, devices, missing files', () => {
    expect(reason(folder, 'escape')).toBe('outside-root');
    expect(reason(folder, 'escape-relative')).toBe('outside-root');
    expect(reason(folder, 'outdir/secret')).toBe('outside-root');
    expect(reason(folder, 'passwd')).toBe('outside-root');
    expect(reason(folder, 'zero')).toBe('outside-root');
    expect(reason(folder, 'sub')).toBe('not-a-file');
    expect(reason(folder, 'fifo')).toBe('not-a-file');
    expect(reason(folder, 'nope')).toBe('not-found');
    expect(reason(folder, 'etc/passwd')).toBe('not-found');
    expect(reason(folder, '../secret')).toBe('bad-name');
  });

  it('serves memory first, falls through to the folder only when not found', () => {
    const both = firstOf(memoryProvider(new Map([['ok.bin', Buffer.from('mem')]])), folder);
    const r = both.open('ok.bin');
    expect(r.ok && Buffer.from(r.content.read(0, 3)).toString()).toBe('mem');
    expect(reason(both, 'efi/boot.efi')).toBe('ok');
    expect(reason(both, 'escape')).toBe('outside-root');
    expect(reason(both, '..')).toBe('bad-name');
  });

  it('loads boot binaries through symlinks from a trusted folder and leaves missing ones out', () => {
    const files = loadFiles(tree.root, ['ok.bin', 'escape', 'missing.efi']);
    expect([...files.keys()]).toEqual(['ok.bin', 'escape']);
    expect(() => loadFiles(tree.root, ['../x'])).toThrow(/refused/);
  });
});
