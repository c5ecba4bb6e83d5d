/**
 * A lock file shared by processes (vitest runs test files in parallel processes): created O_EXCL with
 * the owner's pid; a lock whose owner is gone, or that is older than any download takes, is taken over.
 */
import { readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const LOCK_POLL_MS = 200;
/** A download and unpack takes seconds; a lock this old belongs to a process that hung. */
const LOCK_STALE_MS = 10 * 60_000;

/**
 * Takes the lock file, waiting while a live process holds it. Returns its release, or null when
 * `done()` became true while waiting (the holder produced what we wanted).
 */
export async function lock(path: string, done: () => boolean): Promise<(() => void) | null> {
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
