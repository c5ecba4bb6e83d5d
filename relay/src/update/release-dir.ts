/**
 * The releases a relay installed for itself, in `<state_dir>/releases/` (the service user owns it;
 * /usr is read-only under ProtectSystem=strict):
 *
 *   <version>/edgeboot-relay   a verified executable
 *   current  → <version>/edgeboot-relay   the release that proved healthy (absent: the packaged one)
 *   trial    → <version>/edgeboot-relay   the release on trial: the launcher starts it next
 *   trial-starts                 how often the launcher started the trial (it gives up after 3)
 *   failed.json                  { version, reason, at, reported } of the last release abandoned
 *
 * Every switch is a rename(2) of a symlink over another: atomic, so a power cut leaves either the
 * old or the new choice, never none. packaging/launcher.sh reads the same names.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../sync/atomic-file.ts';

export interface FailedRelease {
  version: string;
  reason: string;
  at: string;
  reported?: boolean;
}

export class ReleaseDir {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  ensure(): void {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  executable(version: string): string {
    return join(this.root, version, 'edgeboot-relay');
  }

  /** True when `execPath` is the release on trial. */
  isTrial(execPath: string): boolean {
    try {
      return realpathSync(join(this.root, 'trial')) === realpathSync(execPath);
    } catch {
      return false;
    }
  }

  /** The version `trial` points at, or null. */
  trialVersion(): string | null {
    try {
      return readlinkSync(join(this.root, 'trial')).split('/')[0] ?? null;
    } catch {
      return null;
    }
  }

  /** Points `name` at `<version>/edgeboot-relay`, replacing what it pointed at in one rename. */
  private link(name: 'trial' | 'current', version: string): void {
    const tmp = join(this.root, `.${name}.${process.pid}`);
    rmSync(tmp, { force: true });
    symlinkSync(`${version}/edgeboot-relay`, tmp);
    renameSync(tmp, join(this.root, name));
  }

  /** Stages a verified release for the launcher's next start. */
  startTrial(version: string): void {
    rmSync(join(this.root, 'trial-starts'), { force: true });
    this.link('trial', version);
  }

  /** The running trial proved healthy: it becomes current. */
  commitTrial(): void {
    const trial = join(this.root, 'trial');
    if (!existsSync(trial)) return;
    renameSync(trial, join(this.root, 'current'));
    rmSync(join(this.root, 'trial-starts'), { force: true });
  }

  /** The trial failed: the launcher starts `current` (or the packaged relay) next, and the version is not tried again. */
  abandonTrial(version: string, reason: string): void {
    this.writeFailed({ version, reason, at: new Date().toISOString() });
    rmSync(join(this.root, 'trial'), { force: true });
    rmSync(join(this.root, 'trial-starts'), { force: true });
  }

  failed(): FailedRelease | null {
    try {
      const f = JSON.parse(readFileSync(join(this.root, 'failed.json'), 'utf8')) as FailedRelease;
      return typeof f.version === 'string' && typeof f.reason === 'string' ? f : null;
    } catch {
      return null;
    }
  }

  writeFailed(f: FailedRelease): void {
    this.ensure();
    writeFileAtomic(join(this.root, 'failed.json'), `${JSON.stringify(f)}\n`, 0o600);
  }

  /** Removes every staged release except `keep` (and what current/trial point at). */
  prune(keep: readonly string[]): void {
    const linked = new Set(keep);
    for (const name of ['current', 'trial']) {
      try {
        linked.add(readlinkSync(join(this.root, name)).split('/')[0]!);
      } catch {
        // absent
      }
    }
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch {
      return;
    }
    // `<version>` and `<version>.partial-<pid>` folders; the links and state files are left alone.
    for (const e of entries) {
      if (/^\d+\.\d+\.\d+/.test(e) && !linked.has(e)) rmSync(join(this.root, e), { recursive: true, force: true });
    }
  }
}
