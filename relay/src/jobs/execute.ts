import { openSecret, SealError, type RelayKeyPair } from '../../../shared/crypto/seal.ts';
import type { PowerJobReport, PowerState, RelayPowerJob } from '../../../shared/schemas/bmc.ts';
import { BmcError, type BmcDriver, type BmcTarget } from '../bmc/driver.ts';

export type DriverFactory = (protocol: 'ipmi' | 'redfish', target: BmcTarget) => BmcDriver;

/**
 * One power job, start to report: open the credential sealed to this relay, then drive the BMC.
 * Never throws; every failure is a report with a reason an operator can act on, and no report or
 * message carries the password (errors are built from the BMC's address and the drivers' words).
 */
export async function executeJob(job: RelayPowerJob, ctx: { keys: RelayKeyPair; relayId: string; driverFor: DriverFactory; now?: () => number }): Promise<PowerJobReport> {
  const now = ctx.now ?? (() => performance.now());
  const started = now();
  const done = (r: Omit<PowerJobReport, 'durationMs'>): PowerJobReport => ({ ...r, durationMs: Math.max(0, Math.round(now() - started)) });
  if (!job.bmc) return done({ ok: false, error: 'the machine has no BMC any more (deleted after the job was queued)' });
  if (!job.bmc.sealed) {
    return done({ ok: false, error: `no BMC credential is sealed to relay ${ctx.relayId} (enrolled after the password was set?): run \`edgeboot machines bmc set\` again` });
  }
  let password: string;
  try {
    password = await openSecret(job.bmc.sealed, ctx.keys, { machineId: job.machineId, relayId: ctx.relayId });
  } catch (err) {
    const why = err instanceof SealError ? err.message : 'unreadable';
    return done({ ok: false, error: `cannot open the BMC credential: ${why}`.slice(0, 512) });
  }
  const bmc = ctx.driverFor(job.bmc.protocol, { address: job.bmc.address, username: job.bmc.username, password, systemId: job.bmc.systemId, tlsFingerprint: job.bmc.tlsFingerprint });
  const detail: Record<string, string | number | boolean | null> = { protocol: job.bmc.protocol };
  try {
    let state: PowerState;
    switch (job.action) {
      case 'status':
        state = await bmc.powerState();
        break;
      case 'shutdown':
        await bmc.shutdown();
        state = await bmc.powerState();
        break;
      case 'on':
      case 'off':
        await bmc.power(job.action);
        state = await bmc.powerState();
        break;
      case 'cycle':
      case 'reprovision': {
        if (job.action === 'reprovision') {
          // A BMC that refuses the override still gets the cycle: the machine then boots by its own
          // boot order, and the timeline says the override was refused.
          try {
            await bmc.bootFromNetworkOnce();
            detail.pxeOverride = 'set';
          } catch (err) {
            if (!(err instanceof BmcError) || err.reason !== 'refused') throw err;
            detail.pxeOverride = 'refused';
            detail.pxeOverrideError = err.message.slice(0, 256);
          }
        }
        // A cycle of a machine that is off does nothing on many BMCs: switch it on instead.
        const before = await bmc.powerState();
        detail.wasOn = before === 'on';
        await bmc.power(before === 'on' ? 'cycle' : 'on');
        state = await bmc.powerState();
        break;
      }
    }
    return done({ ok: true, powerState: state, detail });
  } catch (err) {
    const e = err instanceof BmcError ? err : new BmcError('protocol', (err as Error).message);
    detail.reason = e.reason;
    return done({ ok: false, error: e.message.split(password).join('***').slice(0, 512), detail });
  }
}
