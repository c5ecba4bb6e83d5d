/**
 * Self-update: the relay asks the cloud which release it should run (GET /v1/relay/release), and
 * when that is a newer one for its architecture it downloads it, checks size, sha256 and the
 * Ed25519 signature against the keys baked into this build (version.ts), runs it once (`version`)
 * to prove it executes here, stages it as the trial release (release-dir.ts) and asks to be
 * restarted (EXIT.restart). systemd restarts the launcher, which starts the trial.
 *
 * A trial commits itself once healthy (it holds a snapshot the cloud confirmed: it can serve and
 * reach the cloud) and rolls itself back when that has not happened within `healthBoundMs`. A trial
 * that cannot even start is abandoned by the launcher after three starts. Either way the relay that
 * runs next reports `rolled-back` with the reason, and that version is not tried again until the
 * cloud asks for another one.
 *
 * Everything the cloud sends is checked before it is believed; every refusal is one log line and
 * one `refused` report, and the running relay keeps serving throughout.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { compareVersions, DesiredRelease, releaseSignatureProblem, type SignedRelease, type UpdateReport } from '../../../shared/release/statement.ts';
import type { Logger } from '../log.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { ReleaseDir } from './release-dir.ts';

export interface UpdaterOptions {
  /** `<state_dir>/releases` */
  dir: string;
  version: string;
  arch: string;
  /** Public keys (JWK with kid) a release must be signed by. */
  keys: readonly JsonWebKey[];
  client: CloudClient;
  log: Logger;
  /** The running executable (process.execPath), to know whether this is a trial. */
  execPath: string;
  /** True once the relay serves from a snapshot the cloud confirmed. */
  healthy(): boolean;
  healthBoundMs?: number;
  intervalMs?: number;
  /** Proves an executable runs here: resolves with what `EXE version` printed. */
  probe?(path: string): Promise<string>;
}

export type CheckOutcome =
  | { action: 'none'; reason: string }
  | { action: 'refused'; version: string; reason: string }
  | { action: 'staged'; version: string };

const PROBE_TIMEOUT_MS = 30_000;

export function probeExecutable(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['version'], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 64 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${(err as NodeJS.ErrnoException).code ?? err.message}${stderr ? `: ${String(stderr).trim().slice(0, 200)}` : ''}`));
      else resolve(String(stdout).trim());
    });
  });
}

export class Updater {
  readonly releases: ReleaseDir;
  private lastReport = '';
  private restartHandlers: ((reason: string) => void)[] = [];
  private readonly probe: (path: string) => Promise<string>;

  private readonly opts: UpdaterOptions;
  constructor(opts: UpdaterOptions) {
    this.opts = opts;
    this.releases = new ReleaseDir(opts.dir);
    this.probe = opts.probe ?? probeExecutable;
  }

  onRestart(fn: (reason: string) => void): void {
    this.restartHandlers.push(fn);
  }

  private restart(reason: string): void {
    for (const fn of this.restartHandlers) fn(reason);
  }

  /** POST /v1/relay/update-state, once per distinct report; failures are left to the next change. */
  async report(r: UpdateReport): Promise<void> {
    const key = JSON.stringify(r);
    if (key === this.lastReport) return;
    try {
      const res = await this.opts.client.json({ method: 'POST', path: '/v1/relay/update-state', json: r, retry: true });
      if (res.status === 200) this.lastReport = key;
      else this.opts.log.once(`update-report-${res.status}`, 'the cloud refused the update report', { status: res.status });
    } catch {
      // unreachable: said elsewhere
    }
  }

  /**
   * At start: a trial waits for health (commit) or the bound (roll back); a relay started after
   * an abandoned trial reports why it was abandoned.
   */
  async settle(signal: AbortSignal): Promise<'committed' | 'rolled-back' | 'not-a-trial'> {
    const { log } = this.opts;
    if (!this.releases.isTrial(this.opts.execPath)) {
      const failed = this.releases.failed();
      if (failed && !failed.reported) {
        log.warn('an update was rolled back', { version: failed.version, reason: failed.reason, running: this.opts.version });
        await this.report({ state: 'rolled-back', version: failed.version, reason: failed.reason });
        this.releases.writeFailed({ ...failed, reported: true });
      }
      return 'not-a-trial';
    }
    const bound = this.opts.healthBoundMs ?? 90_000;
    const deadline = Date.now() + bound;
    log.info('running a new release on trial', { version: this.opts.version, boundSeconds: bound / 1000 });
    while (!signal.aborted && Date.now() < deadline) {
      if (this.opts.healthy()) {
        this.releases.commitTrial();
        log.info('the new release is healthy: kept', { version: this.opts.version });
        await this.report({ state: 'updated', version: this.opts.version });
        return 'committed';
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (signal.aborted) return 'not-a-trial';
    const reason = `not healthy within ${bound / 1000} s: no snapshot confirmed by the cloud`;
    log.error('the new release is not healthy: rolling back', { version: this.opts.version, reason });
    this.releases.abandonTrial(this.opts.version, reason);
    this.restart('rollback');
    return 'rolled-back';
  }

  private async refuse(version: string, reason: string): Promise<CheckOutcome> {
    this.opts.log.once(`refused-${version}-${reason.slice(0, 40)}`, 'update refused; this relay keeps running its current release', { version, reason });
    await this.report({ state: 'refused', version, reason });
    return { action: 'refused', version, reason };
  }

  /** One round: ask, check, and stage a new release if there is one. */
  async check(signal?: AbortSignal): Promise<CheckOutcome> {
    const { client, version: running, arch } = this.opts;
    const res = await client.json({ method: 'GET', path: `/v1/relay/release?arch=${encodeURIComponent(arch)}&version=${encodeURIComponent(running)}`, signal });
    if (res.status !== 200) return { action: 'none', reason: `the cloud answered ${res.status}` };
    const parsed = DesiredRelease.safeParse(res.body);
    if (!parsed.success) {
      return this.refuse('?', `the cloud's release description is not one: ${z.prettifyError(parsed.error).replace(/\s+/g, ' ').slice(0, 200)}`);
    }
    const want = parsed.data.desired;
    if (!want || want.version === running) {
      // Up to date: what was reported stays (`updated` after an update). Only a refusal from this
      // run is cleared, once the cloud stops asking for what was refused.
      if (this.lastReport.includes('"refused"')) await this.report({ state: 'idle', version: running });
      return { action: 'none', reason: want ? 'up to date' : 'no release chosen' };
    }
    if (want.arch !== arch) return this.refuse(want.version, `the release is for ${want.arch}, this relay runs on ${arch}`);
    if (want.kind !== 'executable') return this.refuse(want.version, `a relay updates from an executable, not a ${want.kind}`);
    if (compareVersions(want.version, running) < 0) return this.refuse(want.version, `${want.version} is older than the running ${running}: downgrades are refused (install the package to go back)`);
    const failed = this.releases.failed();
    if (failed?.version === want.version) return { action: 'none', reason: `${want.version} was rolled back: ${failed.reason}` };
    if (this.opts.keys.length === 0) return this.refuse(want.version, 'this relay trusts no release key (it was not built by the packager)');
    const sigProblem = await releaseSignatureProblem(want, this.opts.keys);
    if (sigProblem) return this.refuse(want.version, sigProblem);

    await this.report({ state: 'downloading', version: want.version });
    const problem = await this.download(want, signal);
    if (problem) return this.refuse(want.version, problem);
    this.releases.startTrial(want.version);
    this.releases.prune([want.version, running]);
    this.opts.log.info('new release verified and staged: restarting into it', { from: running, to: want.version, sha256: want.sha256 });
    await this.report({ state: 'restarting', version: want.version });
    return { action: 'staged', version: want.version };
  }

  /** Downloads, checks and places `<dir>/<version>/edgeboot-relay`; returns why not, or null. */
  private async download(want: SignedRelease & { path: string }, signal?: AbortSignal): Promise<string | null> {
    this.releases.ensure();
    const work = join(this.opts.dir, `${want.version}.partial-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o700 });
    const file = join(work, 'edgeboot-relay');
    try {
      const res = await this.opts.client.request({ method: 'GET', path: want.path, signal });
      if (res.status !== 200) {
        await res.body.dump();
        return `downloading ${want.path} answered HTTP ${res.status}`;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const out = createWriteStream(file, { mode: 0o700 });
      let tooLong = false;
      try {
        // The cloud stores executables gzip-compressed (a third of the size); the signed size and
        // sha256 are the executable's own, checked on the decompressed bytes.
        const gunzip = createGunzip();
        (res.body as unknown as Readable).on('error', (err) => gunzip.destroy(err)).pipe(gunzip);
        for await (const chunk of gunzip as AsyncIterable<Buffer>) {
          bytes += chunk.length;
          if (bytes > want.bytes) {
            tooLong = true;
            break;
          }
          hash.update(chunk);
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        }
      } finally {
        // 'close', not 'finish': the file must no longer be open for writing when it is run (ETXTBSY).
        await new Promise<void>((resolve, reject) => {
          out.once('close', resolve);
          out.once('error', reject);
          out.end();
        });
      }
      if (tooLong) {
        res.body.destroy();
        return `the artifact is longer than the signed ${want.bytes} bytes`;
      }
      if (bytes !== want.bytes) return `the artifact is truncated: ${bytes} of the signed ${want.bytes} bytes`;
      const sha = hash.digest('hex');
      if (sha !== want.sha256) return `the artifact's sha256 is ${sha}, not the signed ${want.sha256} (tampered or damaged)`;
      chmodSync(file, 0o755);
      let said: string;
      try {
        // A child forked elsewhere in this process at the moment the file was written may hold it
        // open for an instant (ETXTBSY until it execs): one retry.
        said = await this.probe(file).catch(async (err: Error) => {
          if (!err.message.includes('ETXTBSY')) throw err;
          await new Promise((r) => setTimeout(r, 200));
          return this.probe(file);
        });
      } catch (err) {
        return `the artifact does not run on this box (${(err as Error).message})`;
      }
      if (!said.startsWith(`${want.version} linux-${want.arch}`)) return `the artifact says it is ${JSON.stringify(said.slice(0, 80))}, not ${want.version} linux-${want.arch}`;
      rmSync(join(this.opts.dir, want.version), { recursive: true, force: true });
      renameSync(work, join(this.opts.dir, want.version));
      return null;
    } catch (err) {
      return `downloading ${want.path} failed: ${(err as Error).message}`;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

export interface RunningUpdater {
  onRestart(fn: (reason: string) => void): void;
  stop(): Promise<void>;
}

/**
 * The updater of a running relay. Active only when the packaged launcher started it
 * (EDGEBOOT_RELAY_LAUNCHER=1, packaging/launcher.sh): without the launcher nothing would start the
 * staged release. Knobs for tests and impatient sites: EDGEBOOT_RELAY_UPDATE_INTERVAL_S (default
 * 300) and EDGEBOOT_RELAY_UPDATE_HEALTH_S (default 90).
 */
export function startUpdater(opts: {
  stateDir: string;
  client: CloudClient;
  version: string;
  arch: string;
  keys: readonly JsonWebKey[];
  healthy(): boolean;
  log: Logger;
}): RunningUpdater {
  const handlers: ((reason: string) => void)[] = [];
  if (process.env.EDGEBOOT_RELAY_LAUNCHER !== '1') {
    opts.log.info('self-update off: this relay was not started by the packaged launcher (/usr/lib/edgeboot-relay/launcher)');
    return { onRestart: (fn) => void handlers.push(fn), stop: async () => {} };
  }
  const seconds = (name: string, fallback: number) => {
    const v = Number(process.env[name]);
    return Number.isFinite(v) && v > 0 ? v * 1000 : fallback;
  };
  const updater = new Updater({
    dir: join(opts.stateDir, 'releases'),
    version: opts.version,
    arch: opts.arch,
    keys: opts.keys,
    client: opts.client,
    log: opts.log,
    execPath: process.execPath,
    healthy: opts.healthy,
    healthBoundMs: seconds('EDGEBOOT_RELAY_UPDATE_HEALTH_S', 90_000),
  });
  const interval = seconds('EDGEBOOT_RELAY_UPDATE_INTERVAL_S', 300_000);
  const stop = new AbortController();
  let restarting = false;
  updater.onRestart((reason) => {
    restarting = true;
    for (const fn of handlers) fn(reason);
  });
  const loop = (async () => {
    if ((await updater.settle(stop.signal)) === 'rolled-back') return;
    while (!stop.signal.aborted && !restarting) {
      try {
        const outcome = await updater.check(stop.signal);
        if (outcome.action === 'staged') {
          restarting = true;
          for (const fn of handlers) fn('update');
          return;
        }
      } catch (err) {
        if (!stop.signal.aborted) opts.log.once('update-check', 'update check failed', { err: (err as Error).message });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval);
        stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  })();
  return {
    onRestart: (fn) => void handlers.push(fn),
    stop: async () => {
      stop.abort();
      await loop;
    },
  };
}
