import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkName, ContentChangedError, firstOf, folderProvider, loadFiles, memoryProvider, type Content, type ContentProvider } from '../../../relay/src/tftp/content.ts';

const CHUNK = 16 * 1024;
import { makeTree, type Tree } from './support/fixture.ts';

let tree: Tree;
let folder: ContentProvider;
beforeAll(() => {
  tree = makeTree({ 'ok.bin': 3000, 'big.bin': 3 * CHUNK + 1000, 'shrinks.bin': 4 * CHUNK });
  mkdirSync(join(tree.root, 'efi'));
  writeFileSync(join(tree.root, 'efi', 'boot.efi'), 'nested');
  folder = folderProvider(tree.root);
});
afterAll(() => tree?.cleanup());

function open(name: string): Content {
  const r = folder.open(name);
  if (!r.ok) throw new Error(r.reason);
  return r.content;
}

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

  it('reads a file in blocks and in runs of blocks, forwards, backwards and to the end', () => {
    const want = tree.files.get('big.bin')!;
    const c = open('big.bin');
    const blk = 1468;
    const got: Buffer[] = [];
    for (let off = 0; off < c.size; off += blk) got.push(Buffer.from(c.read(off, Math.min(blk, c.size - off))));
    expect(Buffer.concat(got).equals(want)).toBe(true);
    // A partial ACK rewinds into a chunk already left behind; a retransmit repeats the last block.
    expect(Buffer.from(c.read(5 * blk, blk))).toEqual(want.subarray(5 * blk, 6 * blk));
    expect(Buffer.from(c.read(30 * blk, blk))).toEqual(want.subarray(30 * blk, 31 * blk));
    expect(c.read(c.size, 0).length).toBe(0);
    // The server reads runs of blocks; the HTTP boot route reads the whole file.
    expect(Buffer.from(c.read(11 * blk, 11 * blk))).toEqual(want.subarray(11 * blk, 22 * blk));
    expect(Buffer.from(c.read(0, c.size)).equals(want)).toBe(true);
    c.close();
  });

  it('never overwrites bytes it handed out: a DATA still queued in the socket may point into them', () => {
    const want = tree.files.get('big.bin')!;
    const c = open('big.bin');
    const first = c.read(0, 512);
    c.read(2 * CHUNK, 512);
    c.read(100, 512);
    expect(Buffer.from(first)).toEqual(want.subarray(0, 512));
    c.close();
  });

  it('throws ContentChangedError for a block past the end of a file that shrank after it was opened', () => {
    const c = open('shrinks.bin');
    expect(c.size).toBe(4 * CHUNK);
    expect(c.read(0, 1468).length).toBe(1468);
    truncateSync(join(tree.root, 'shrinks.bin'), CHUNK);
    expect(() => c.read(2 * CHUNK, 1468)).toThrow(ContentChangedError);
    c.close();
  });
});
