import { loadOrCreateSealKey, registerSealKey } from '../bmc/seal-key.ts';
import { defaultDrivers } from '../bmc/drivers.ts';
import type { Logger } from '../log.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import type { DriverFactory } from './execute.ts';
import { PowerJobRunner } from './runner.ts';

export interface PowerJobsOptions {
  maxConcurrent?: number;
  waitSeconds?: number;
  driverFor?: DriverFactory;
}

/** The relay's BMC side: its sealing key (made and registered once) and the power-job runner. */
export async function startPowerJobs(o: PowerJobsOptions & { client: CloudClient; stateDir: string; relayId: string; log: Logger }): Promise<{ runner: PowerJobRunner; close(): Promise<void> }> {
  const keys = await loadOrCreateSealKey(o.stateDir);
  const stop = new AbortController();
  const registered = registerSealKey(o.client, keys, o.log, stop.signal);
  const runner = new PowerJobRunner({ client: o.client, keys, relayId: o.relayId, log: o.log, driverFor: o.driverFor ?? defaultDrivers(), maxConcurrent: o.maxConcurrent, waitSeconds: o.waitSeconds });
  runner.start();
  return {
    runner,
    async close() {
      stop.abort();
      await Promise.all([registered, runner.close()]);
    },
  };
}
