import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfError, interpreter, neededLibraries } from '../../imager/build/elf.ts';
import { programEntries, resolveIn } from '../../imager/build/initramfs.ts';

/**
 * The initramfs builder copies dynamically linked programs (zstd in the imager, curl in the
 * benchmark's reference) with what their ELF headers name. Checked against ldd, and by running the
 * copy in a chroot that holds nothing else.
 */
const work = mkdtempSync(join(tmpdir(), 'edgeboot-programs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** ldd's answer for a program: the sonames it resolves (no vdso) and the loader. */
function ldd(path: string): { libs: Set<string>; loader: string } {
  const out = execFileSync('ldd', [path], { encoding: 'utf8' });
  const libs = new Set<string>();
  let loader = '';
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+) => /.exec(line);
    if (m) libs.add(m[1]!);
    else if (/^\s*\/\S+ \(0x/.test(line)) loader = line.trim().split(' ')[0]!;
  }
  return { libs, loader };
}

describe('ELF reading', () => {
  for (const program of ['/usr/bin/zstd', '/usr/bin/curl']) {
    it(`finds the loader and, transitively, every library ldd lists for ${program}`, () => {
      const want = ldd(program);
      expect(interpreter(readFileSync(program))).toBe(want.loader);
      const { libraries } = programEntries({ binary: program, dest: 'bin/x', roots: ['/'] });
      // libc names the loader as a library too; ldd prints it on a line of its own.
      expect(new Set(libraries)).toEqual(new Set([...want.libs, want.loader.split('/').pop()!]));
    });
  }

  it('says a static program has no loader and no libraries', () => {
    const busybox = readFileSync('/bin/busybox');
    expect(interpreter(busybox)).toBeNull();
    expect(neededLibraries(busybox)).toEqual([]);
  });

  it('refuses a file that is not ELF', () => {
    expect(() => neededLibraries(new TextEncoder().encode('#!/bin/sh\necho hi\n'.padEnd(80)))).toThrow(ElfError);
  });
});

describe('copying a program with its libraries', () => {
  it('runs in a chroot that holds only the program, its libraries and its loader', () => {
    const root = join(work, 'chroot');
    for (const e of programEntries({ binary: '/usr/bin/zstd', dest: 'bin/zstd', roots: ['/'] }).entries) {
      if (e.type !== 'file') continue;
      mkdirSync(join(root, dirname(e.path)), { recursive: true });
      writeFileSync(join(root, e.path), e.data, { mode: e.mode });
    }
    const out = execFileSync('chroot', [root, '/bin/zstd', '-q', '-c'], { input: 'edgeboot' });
    const back = execFileSync('chroot', [root, '/bin/zstd', '-d', '-q', '-c'], { input: out, encoding: 'utf8' });
    expect(back).toBe('edgeboot');
  });

  it('follows symlinks inside an unpacked tree, never out to the host', () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'lib/x86_64-linux-gnu'), { recursive: true });
    mkdirSync(join(tree, 'lib64'), { recursive: true });
    writeFileSync(join(tree, 'lib/x86_64-linux-gnu/ld-2.36.so'), 'loader');
    // As Debian's libc6 ships it: an absolute link, meant for the tree's own root.
    symlinkSync('/lib/x86_64-linux-gnu/ld-2.36.so', join(tree, 'lib64/ld-linux-x86-64.so.2'));
    symlinkSync('../../etc/passwd', join(tree, 'lib/escape'));
    expect(resolveIn(tree, '/lib64/ld-linux-x86-64.so.2')).toBe(join(tree, 'lib/x86_64-linux-gnu/ld-2.36.so'));
    // `..` stops at the tree's root: the tree has no etc/passwd, and the host's is never reached.
    expect(resolveIn(tree, '/lib/escape')).toBeNull();
    writeFileSync(join(tree, 'passwd'), 'x');
    symlinkSync('../../../../passwd', join(tree, 'lib/x86_64-linux-gnu/up'));
    expect(resolveIn(tree, '/lib/x86_64-linux-gnu/up')).toBe(join(tree, 'passwd'));
    expect(resolveIn(tree, '/lib64/missing')).toBeNull();
  });
});
