import type { RelayKeyPair } from '../../../shared/crypto/seal.ts';
import { RelayPowerJobs, type PowerJobReport, type RelayPowerJob } from '../../../shared/schemas/bmc.ts';
import type { Logger } from '../log.ts';
import { backoffMs, sleep } from '../sync/backoff.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { executeJob, type DriverFactory } from './execute.ts';

export interface PowerJobRunnerOptions {
  client: CloudClient;
  keys: RelayKeyPair;
  relayId: string;
  log: Logger;
  driverFor: DriverFactory;
  /** At most this many BMC commands at once: the rest stay queued in the cloud until a slot frees. */
  maxConcurrent?: number;
  /** Long-poll hold (seconds) for GET /v1/relay/power-jobs. */
  waitSeconds?: number;
}

/**
 * Takes the site's power jobs from the cloud (a long-poll, like the snapshot's) and runs them, at most
 * `maxConcurrent` at once: it asks only for as many jobs as it has free slots, so a flood waits in
 * the cloud's queue, where deadlines apply, rather than in this process.
 */
export class PowerJobRunner {
  private readonly stop = new AbortController();
  private readonly max: number;
  private running = 0;
  private slotFreed: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Jobs run in this process, and the most that ran at once (metrics, tests). */
  done = 0;
  peak = 0;

  private readonly o: PowerJobRunnerOptions;

  constructor(o: PowerJobRunnerOptions) {
    this.o = o;
    this.max = Math.max(1, o.maxConcurrent ?? 4);
  }

  get active(): number {
    return this.running;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.slotFreed?.();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    const wait = this.o.waitSeconds ?? 20;
    for (let failures = 0; !signal.aborted; ) {
      if (this.running >= this.max) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let jobs: RelayPowerJob[];
      try {
        const r = await this.o.client.json({
          method: 'GET',
          path: `/v1/relay/power-jobs?wait=${wait}&max=${this.max - this.running}`,
          headersTimeoutMs: (wait + 15) * 1000,
          retry: false,
          signal,
        });
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        jobs = RelayPowerJobs.parse(r.body).jobs;
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.o.log.once('power-jobs-poll', 'cannot fetch power jobs from the cloud', { error: (err as Error).message });
        if (!(await sleep(backoffMs(failures++, 500, 15_000), signal))) break;
        continue;
      }
      for (const job of jobs) this.launch(job);
    }
  }

  private launch(job: RelayPowerJob): void {
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    const p = (async () => {
      const report = await executeJob(job, { keys: this.o.keys, relayId: this.o.relayId, driverFor: this.o.driverFor });
      // Never the password: the report is built from addresses and the drivers' words only.
      this.o.log.info('power job done', { job: job.id, machine: job.machineId, action: job.action, ok: report.ok, powerState: report.powerState ?? null, error: report.error ?? null, durationMs: report.durationMs });
      await this.report(job.id, report);
    })()
      .catch((err: unknown) => this.o.log.error('power job crashed', { job: job.id, error: (err as Error).message }))
      .finally(() => {
        this.running--;
        this.done++;
        this.inFlight.delete(p);
        const wake = this.slotFreed;
        this.slotFreed = null;
        wake?.();
      });
    this.inFlight.add(p);
  }

  /** Retried: the job already ran, losing its outcome would leave it "running" until the cloud gives up on it. */
  private async report(id: string, report: PowerJobReport): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const r = await this.o.client.json({ method: 'POST', path: `/v1/relay/power-jobs/${encodeURIComponent(id)}/result`, json: report, retry: true });
        if (r.status === 200 || r.status === 409 || r.status === 404) return;
      } catch {
        // unreachable: retry below
      }
      if (!(await sleep(backoffMs(attempt, 500, 10_000)))) return;
    }
    this.o.log.error('could not report a power job; the cloud will mark it failed', { job: id });
  }
}
