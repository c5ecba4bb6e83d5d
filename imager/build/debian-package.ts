/**
 * Debian packages fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a cache folder:
 * never installed, so tests need no root for this and leave the host untouched.
 *
 * Cache layout: `<cacheDir>/<package>_<version>/` holds the unpacked tree, renamed into place only when
 * complete, so a reader never sees half of one. A lock file (`<...>.lock`, created O_EXCL, holding the
 * owner's pid) makes concurrent test files (vitest runs them in parallel processes) download once;
 * a lock whose owner is gone is taken over.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lock } from './file-lock.ts';
import { DEFAULT_SUITE_DIR, suiteAptOptions } from './suite.ts';

const exec = promisify(execFile);

export interface UnpackedPackage {
  package: string;
  version: string;
  /** Root of the unpacked tree (`<root>/boot/...`, `<root>/usr/...`). */
  root: string;
}

const inProcess = new Map<string, Promise<UnpackedPackage>>();

/**
 * Where packages come from: the machine's own apt configuration (null), or another suite of the same
 * Debian archive through a private configuration (see suite.ts) that never touches the machine's sources.
 */
export interface FetchOptions {
  /** e.g. `trixie`: a newer iPXE, shim and GRUB than the machine's release has. */
  suite?: string;
}

/** The candidate version apt would install and what it depends on, from the local package lists (no network). */
export async function candidate(name: string, opts: FetchOptions & { cacheDir?: string } = {}): Promise<{ version: string; depends: string[] }> {
  const conf = opts.suite ? await suiteAptOptions(opts.cacheDir ?? DEFAULT_SUITE_DIR, opts.suite) : [];
  let out: string;
  try {
    ({ stdout: out } = await exec('apt-cache', [...conf, 'show', '--no-all-versions', name], { maxBuffer: 16 << 20 }));
  } catch (e) {
    throw new Error(`apt-cache show ${name}${opts.suite ? ` (suite ${opts.suite})` : ''} failed — is this Debian, and has \`apt-get update\` run? ${(e as Error).message}`);
  }
  const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(out)?.[1]?.trim();
  const version = field('Version');
  if (!version) throw new Error(`apt-cache knows no candidate version of ${name} (run apt-get update)`);
  // Pre-Depends too: coreutils, for one, names libc6 only there.
  const depends = [field('Pre-Depends'), field('Depends')].flatMap((f) => (f ?? '').split(',')).map((d) => d.trim().split(/[\s|(]/)[0]!).filter(Boolean);
  return { version, depends };
}

/** Downloads (once) and unpacks the candidate version of `name` (of `opts.suite`, else the machine's) under `cacheDir`. */
export function debianPackage(cacheDir: string, name: string, opts: FetchOptions = {}): Promise<UnpackedPackage> {
  const key = `${cacheDir}\0${name}\0${opts.suite ?? ''}`;
  let p = inProcess.get(key);
  if (!p) {
    p = fetchAndUnpack(cacheDir, name, opts);
    // A failure is not cached: the next caller tries again.
    p.catch(() => inProcess.delete(key));
    inProcess.set(key, p);
  }
  return p;
}

async function fetchAndUnpack(cacheDir: string, name: string, opts: FetchOptions): Promise<UnpackedPackage> {
  const conf = opts.suite ? await suiteAptOptions(cacheDir, opts.suite) : [];
  const { version } = await candidate(name, { ...opts, cacheDir });
  const root = join(cacheDir, `${name}_${version.replace(/:/g, '%3a')}`);
  const result = { package: name, version, root };
  if (existsSync(root)) return result;
  mkdirSync(cacheDir, { recursive: true });
  const release = await lock(`${root}.lock`, () => existsSync(root));
  if (!release) return result; // another process finished it while we waited
  try {
    if (existsSync(root)) return result;
    const work = mkdtempSync(`${root}.tmp-`);
    try {
      // As root, apt drops to the `_apt` user to download and warns that it cannot write here.
      const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
      await exec('apt-get', [...sandbox, ...conf, 'download', `${name}=${version}`], { cwd: work, maxBuffer: 16 << 20 }).catch((e: Error & { stderr?: string }) => {
        throw new Error(`apt-get download ${name}=${version} failed: ${e.stderr?.trim() || e.message}`);
      });
      const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${name} left no .deb in ${work}`);
      await exec('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
      renameSync(join(work, 'root'), root);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return result;
  } finally {
    release();
  }
}
