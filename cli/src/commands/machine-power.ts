import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { sealSecret } from '../../../shared/crypto/seal.ts';
import type { Bmc, BmcRecipients, PowerAction, PowerJob } from '../../../shared/schemas/bmc.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { ApiClient } from '../api-client.ts';
import { contextOf } from '../context.ts';
import { CliError, usageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { emit, formatFields, formatTable } from '../output.ts';
import { collect, oneOf, parseInteger } from '../parse.ts';
import { resolveMachine, resolveSite } from '../resolve.ts';

/**
 * `machines bmc …`, `machines power …` and the power half of `machines reprovision` (issue 15).
 * The BMC password is read from standard input and sealed here, to each relay of the machine's site
 * (shared/crypto/seal.ts): the API only ever sees ciphertext.
 */

const ACTIONS = ['on', 'off', 'cycle', 'shutdown', 'status'] as const;
const FINISHED = new Set(['succeeded', 'failed', 'expired']);
const POLL_MS = 200;

/** Seals `password` to every relay of the machine's site that has a sealing key, and stores the BMC. */
export async function setBmc(
  api: ApiClient,
  machine: Pick<Machine, 'id'>,
  spec: { protocol: 'ipmi' | 'redfish'; address: string; username: string; password: string; systemId?: string; tlsFingerprint?: string },
): Promise<Bmc> {
  const rec = await api.get<BmcRecipients>(`/v1/machines/${machine.id}/bmc/recipients`);
  if (rec.relays.length === 0) {
    throw new CliError(EXIT.REJECTED, `site ${rec.siteId} has no relay with a sealing key yet`, { hint: 'start the site\'s relay once (it registers its key at start), then run this again' });
  }
  const credentials = await Promise.all(rec.relays.map(async (r) => ({ relayId: r.relayId, sealed: await sealSecret(spec.password, r.publicKey, { machineId: machine.id, relayId: r.relayId }) })));
  return api.request<Bmc>('PUT', `/v1/machines/${machine.id}/bmc`, {
    json: { protocol: spec.protocol, address: spec.address, username: spec.username, systemId: spec.systemId ?? null, tlsFingerprint: spec.tlsFingerprint ?? null, credentials },
  });
}

/** Queues a job and, unless told not to, polls it until it is finished. */
export async function runPowerJob(api: ApiClient, machineId: string, action: PowerAction, o: { wait: boolean; deadlineSeconds?: number }): Promise<PowerJob> {
  let job = await api.post<PowerJob>(`/v1/machines/${machineId}/power`, { action, ...(o.deadlineSeconds ? { deadlineSeconds: o.deadlineSeconds } : {}) });
  while (o.wait && !FINISHED.has(job.state)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await api.get<PowerJob>(`/v1/power-jobs/${job.id}`);
  }
  return job;
}

const jobLine = (j: PowerJob, name: string): string =>
  `${name}: ${j.action} ${j.state}${j.powerState ? `, power ${j.powerState}` : ''}${j.durationMs !== null ? ` (${j.durationMs} ms)` : ''}${j.error ? ` — ${j.error}` : ''}` +
  (j.detail?.pxeOverride === 'refused' ? ' — the BMC refused the network-boot override: the machine boots by its own boot order' : '');

function failIfBad(jobs: PowerJob[]): void {
  const bad = jobs.filter((j) => j.state !== 'succeeded' && FINISHED.has(j.state));
  if (bad.length > 0) throw new CliError(EXIT.ERROR, bad.length === 1 ? `power job ${bad[0]!.id} ${bad[0]!.state}: ${bad[0]!.error}` : `${bad.length} of ${jobs.length} power jobs did not succeed`);
}

function readPassword(fromStdin: boolean | undefined): string {
  if (!fromStdin) throw usageError('give the BMC password on standard input with --password-stdin (never as an argument)');
  const text = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (!text) throw usageError('--password-stdin read an empty password');
  return text;
}

export function addBmcCommands(machines: Command): void {
  const bmc = machines.command('bmc').description("a machine's BMC, for power control through the site's relay");
  bmc
    .command('set')
    .description("set the BMC; the password is sealed to each relay of the machine's site before it leaves this computer")
    .argument('<machine>', 'machine id, MAC or hostname')
    .option('--ipmi <address>', 'IPMI v2.0 over LAN: host or host:port')
    .option('--redfish <url>', 'Redfish: the BMC URL, e.g. https://10.0.5.21')
    .requiredOption('--user <name>', 'BMC user')
    .option('--password-stdin', 'read the password from standard input')
    .option('--system-id <id>', 'Redfish ComputerSystem id (default: the only one)')
    .option('--tls-fingerprint <sha256>', "Redfish: pin the BMC's certificate by its SHA-256 fingerprint")
    .action(async (ref: string, o: { ipmi?: string; redfish?: string; user: string; passwordStdin?: boolean; systemId?: string; tlsFingerprint?: string }, c: Command) => {
      const ctx = contextOf(c);
      if (Boolean(o.ipmi) === Boolean(o.redfish)) throw usageError('give exactly one of --ipmi ADDRESS or --redfish URL');
      const password = readPassword(o.passwordStdin);
      const m = await resolveMachine(ctx.api(), ref);
      const b = await setBmc(ctx.api(), m, { protocol: o.ipmi ? 'ipmi' : 'redfish', address: (o.ipmi ?? o.redfish)!, username: o.user, password, systemId: o.systemId, tlsFingerprint: o.tlsFingerprint });
      emit(ctx.out, b, () => `BMC of ${m.mac} set (${b.protocol} ${b.address}); password sealed to ${b.sealedFor.length} relay(s)`);
    });
  bmc
    .command('show')
    .description("the machine's BMC (never the password)")
    .argument('<machine>', 'machine id, MAC or hostname')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const b = await ctx.api().get<Bmc>(`/v1/machines/${m.id}/bmc`);
      emit(ctx.out, b, (x) =>
        formatFields([
          ['protocol', x.protocol],
          ['address', x.address],
          ['user', x.username],
          ['system id', x.systemId],
          ['tls fingerprint', x.tlsFingerprint],
          ['sealed for', x.sealedFor.join(', ') || '(no relay)'],
          ['missing for', x.missingFor.length ? `${x.missingFor.join(', ')} — run \`edgeboot machines bmc set\` again` : null],
          ['updated', x.updatedAt],
        ]),
      );
    });
  bmc
    .command('delete')
    .description("forget the machine's BMC and its sealed credentials")
    .argument('<machine>', 'machine id, MAC or hostname')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      await ctx.api().delete(`/v1/machines/${m.id}/bmc`);
      emit(ctx.out, { deleted: m.id }, () => `BMC of ${m.mac} deleted`);
    });

  machines
    .command('power')
    .description("power the machine on, off, cycle it, or read its state, through its site's relay and BMC")
    .argument('<machine>', 'machine id, MAC or hostname')
    .argument('<action>', ACTIONS.join('|'), oneOf(ACTIONS))
    .option('--no-wait', 'queue the job and return')
    .option('--deadline <seconds>', 'how long the job may wait for the relay (default 600)', parseInteger(5, 86_400))
    .action(async (ref: string, action: (typeof ACTIONS)[number], o: { wait: boolean; deadline?: number }, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const job = await runPowerJob(ctx.api(), m.id, action, { wait: o.wait, deadlineSeconds: o.deadline });
      emit(ctx.out, job, (j) => jobLine(j, m.mac));
      failIfBad([job]);
    });
}

export interface PowerCycleOptions {
  powerCycle?: boolean;
  site?: string;
  label?: string[];
  concurrency?: number;
  wait: boolean;
  deadline?: number;
}

/** Options `machines reprovision` takes for the power half and the bulk form. */
export function addReprovisionOptions(cmd: Command): Command {
  return cmd
    .option('--power-cycle', "then boot it from the network and power-cycle it through its BMC (on if it is off)")
    .option('--site <site>', 'every machine of this site (with --label: only those)')
    .option('-l, --label <key=value>', 'only machines with this label (repeat: all must match)', collect)
    .option('--concurrency <n>', 'bulk: at most n power jobs outstanding at once (default 10)', parseInteger(1, 1000))
    .option('--no-wait', 'queue the power jobs and return')
    .option('--deadline <seconds>', 'how long each power job may wait for the relay (default 600)', parseInteger(5, 86_400));
}

/**
 * `machines reprovision [M] [--site S --label k=v] [--power-cycle]`: marks each machine to netboot its
 * assignment again, then (with --power-cycle) queues a `reprovision` power job, at most `concurrency`
 * outstanding at a time, so a bulk run never floods a site (its relay runs at most N at once anyway).
 */
export async function reprovision(c: Command, ref: string | undefined, o: PowerCycleOptions): Promise<void> {
  const ctx = contextOf(c);
  const api = ctx.api();
  if (ref && (o.site || o.label)) throw usageError('give a machine, or --site/--label, not both');
  if (!ref && !o.site) throw usageError('give a machine, or --site SITE [--label k=v] for many');
  let machines: Machine[];
  if (ref) machines = [await resolveMachine(api, ref)];
  else {
    const siteId = (await resolveSite(api, o.site!)).id;
    machines = await api.list<Machine>('/v1/machines', { siteId, label: o.label });
    if (machines.length === 0) throw new CliError(EXIT.NOT_FOUND, 'no machine matches');
  }
  const jobs: PowerJob[] = [];
  const marked: Machine[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < machines.length; i = next++) {
      const m = machines[i]!;
      marked.push(await api.post<Machine>(`/v1/machines/${m.id}/reprovision`));
      if (o.powerCycle) {
        const j = await runPowerJob(api, m.id, 'reprovision', { wait: o.wait, deadlineSeconds: o.deadline });
        jobs.push(j);
        if (ref === undefined && !ctx.out.json) ctx.out.stderr(jobLine(j, m.mac));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 10, machines.length) }, worker));
  if (!o.powerCycle) {
    emit(ctx.out, ref ? marked[0]! : marked, () => marked.map((m) => `machine ${m.mac} will netboot its assignment again (state ${m.state})`).join('\n'));
    return;
  }
  emit(ctx.out, ref ? jobs[0]! : jobs, () =>
    ref
      ? jobLine(jobs[0]!, machines[0]!.mac)
      : formatTable(jobs, [
          { header: 'machine', value: (j) => j.machineId },
          { header: 'state', value: (j) => j.state },
          { header: 'power', value: (j) => j.powerState },
          { header: 'took', value: (j) => (j.durationMs === null ? '' : `${j.durationMs} ms`) },
          { header: 'error', value: (j) => j.error },
        ]),
  );
  failIfBad(jobs);
}
