/**
 * A minimal Debian root with systemd, for booting under `systemd-nspawn --boot` (FIELD-NOTES "A real
 * systemd for tests"): built once with debootstrap from the Debian archive the machine's apt sources
 * name (imager/build/suite.ts machineArchive), cached under .cache/appliance/, and shared by every
 * test that needs it. Tests never boot the cached root itself: each boots a copy made with
 * `cp --reflink=auto -a` (~250 MB), so one test's installs never reach another's.
 *
 * The suite is the machine's own (bookworm here): what the relay's .deb must install on.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { lock } from '../../../imager/build/file-lock.ts';
import { machineArchive } from '../../../imager/build/suite.ts';

const exec = promisify(execFile);
const CACHE = resolve(import.meta.dirname, '../../../.cache/appliance');
/** What a bare site box has, plus curl for the pasted install command. */
const INCLUDE = ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'curl', 'ca-certificates', 'procps'];
const RECIPE = 1; // bump when INCLUDE or the steps change: the cached root is rebuilt

function machineSuite(): string {
  const m = /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'));
  if (!m) throw new Error('/etc/os-release names no VERSION_CODENAME');
  return m[1]!;
}

/** The cached root (built on first use; ~60 s), ready to be copied. */
export async function debianRoot(): Promise<string> {
  const suite = machineSuite();
  const dir = join(CACHE, `${suite}-systemd`);
  const stamp = join(dir, '.edgeboot-root');
  const want = JSON.stringify({ suite, include: INCLUDE, recipe: RECIPE });
  const ready = () => existsSync(stamp) && readFileSync(stamp, 'utf8') === want;
  if (ready()) return dir;
  mkdirSync(CACHE, { recursive: true });
  const release = await lock(`${dir}.lock`, ready);
  if (!release) return dir;
  try {
    if (ready()) return dir;
    const work = `${dir}.tmp-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    const archive = machineArchive();
    const keyring = archive.signedBy ? [`--keyring=${archive.signedBy}`] : [];
    try {
      await exec('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, ...keyring, suite, work, archive.uri], { maxBuffer: 64 << 20 });
    } catch (e) {
      const log = existsSync(join(work, 'debootstrap/debootstrap.log')) ? readFileSync(join(work, 'debootstrap/debootstrap.log'), 'utf8').slice(-2000) : '';
      throw new Error(`debootstrap ${suite} failed: ${(e as Error & { stderr?: string }).stderr ?? (e as Error).message}\n${log}`);
    }
    // A root password is never needed (tests enter with nsenter); the machine id is made at first boot.
    rmSync(join(work, 'etc/machine-id'), { force: true });
    writeFileSync(join(work, 'etc/hostname'), 'site-box\n');
    writeFileSync(stamp.replace(dir, work), want);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    return dir;
  } finally {
    release();
  }
}

/** A private copy of the cached root for one test (removed by the caller). */
export async function copyOfDebianRoot(target: string): Promise<string> {
  const root = await debianRoot();
  rmSync(target, { recursive: true, force: true });
  await exec('cp', ['--reflink=auto', '-a', root, target]);
  return target;
}
