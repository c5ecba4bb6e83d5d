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
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const LOCK_POLL_MS = 200;
/** A download and unpack takes seconds; a lock this old belongs to a process that hung. */
const LOCK_STALE_MS = 10 * 60_000;

export interface UnpackedPackage {
  package: string;
  version: string;
  /** Root of the unpacked tree (`<root>/boot/...`, `<root>/usr/...`). */
  root: string;
}

const inProcess = new Map<string, Promise<UnpackedPackage>>();

/** The candidate version apt would install and what it depends on, from the local package lists (no network). */
export async function candidate(name: string): Promise<{ version: string; depends: string[] }> {
  let out: string;
  try {
    ({ stdout: out } = await exec('apt-cache', ['show', '--no-all-versions', name], { maxBuffer: 16 << 20 }));
  } catch (e) {
    throw new Error(`apt-cache show ${name} failed — is this Debian, and has \`apt-get update\` run? ${(e as Error).message}`);
  }
  const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(out)?.[1]?.trim();
  const version = field('Version');
  if (!version) throw new Error(`apt-cache knows no candidate version of ${name} (run apt-get update)`);
  // Pre-Depends too: coreutils, for one, names libc6 only there.
  const depends = [field('Pre-Depends'), field('Depends')].flatMap((f) => (f ?? '').split(',')).map((d) => d.trim().split(/[\s|(]/)[0]!).filter(Boolean);
  return { version, depends };
}

/** Downloads (once) and unpacks the candidate version of `name` under `cacheDir`. */
export function debianPackage(cacheDir: string, name: string): Promise<UnpackedPackage> {
  const key = `${cacheDir}\0${name}`;
  let p = inProcess.get(key);
  if (!p) {
    p = fetchAndUnpack(cacheDir, name);
    // A failure is not cached: the next caller tries again.
    p.catch(() => inProcess.delete(key));
    inProcess.set(key, p);
  }
  return p;
}

async function fetchAndUnpack(cacheDir: string, name: string): Promise<UnpackedPackage> {
  const { version } = await candidate(name);
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
      await exec('apt-get', [...sandbox, 'download', `${name}=${version}`], { cwd: work, maxBuffer: 16 << 20 }).catch((e: Error & { stderr?: string }) => {
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

/**
 * Takes the lock file, waiting while a live process holds it. Returns its release, or null when
 * `done()` became true while waiting (the holder produced what we wanted).
 */
async function lock(path: string, done: () => boolean): Promise<(() => void) | null> {
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (done()) return null;
    if (staleLock(path)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    await sleep(LOCK_POLL_MS);
  }
}

function staleLock(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8'));
    if (Date.now() - statSync(path).mtimeMs > LOCK_STALE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
