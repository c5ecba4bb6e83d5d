import { Command } from 'commander';
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { BootExplanation } from '../../../shared/schemas/boot.ts';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import { MachineState, type Machine } from '../../../shared/schemas/machine.ts';
import { ApiError } from '../api-client.ts';
import { contextOf } from '../context.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import { addDeleteCommand } from './delete-command.ts';
import { addBmcCommands, addReprovisionOptions, reprovision, type PowerCycleOptions } from './machine-power.ts';
import { CliError, usageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { namesOf, type NameOf } from '../names.ts';
import { emit, formatAgo, formatBytes, formatFields, formatLabels, formatTable, formatTime } from '../output.ts';
import { acceptedArchs, collect, collectLabel, oneOf, onOffUnknown, onOffValue, parseArch, parseInteger, parseMac, parseMemory, parseOnOffUnknown, type OnOffUnknown } from '../parse.ts';
import { resolveMachine, resolveSite } from '../resolve.ts';

const STATES = MachineState.options;

export function machinesTable(rows: readonly Machine[], siteName: NameOf, now: number): string {
  return formatTable(
    rows,
    [
      { header: 'mac', value: (m) => m.mac },
      { header: 'hostname', value: (m) => m.hostname },
      { header: 'site', value: (m) => siteName(m.siteId) },
      { header: 'state', value: (m) => m.state },
      { header: 'arch', value: (m) => m.arch },
      { header: 'labels', value: (m) => formatLabels(m.labels) },
      { header: 'last seen', value: (m) => formatAgo(m.lastSeenAt, now) },
      { header: 'id', value: (m) => m.id },
    ],
    '(no machines)',
  );
}

/** The inventory in a few lines of `machines show`: what a person asks first (how big, what make). */
export function hardwareFields(inv: Machine['inventory']): [string, string][] {
  if (!inv) return [['hardware', 'never reported (the imager reports it)']];
  const disks = inv.disks.filter((d) => d.removable !== true);
  const kind = (d: (typeof disks)[number]) => (d.rotational === true ? ' HDD' : d.rotational === false ? ' SSD' : '');
  const make = [inv.firmware.vendor, inv.firmware.product].filter(Boolean).join(' ');
  return [
    ['cpus', `${inv.cpu.count}${inv.cpu.model ? ` × ${inv.cpu.model}` : ''}`],
    ['memory', formatBytes(inv.memoryBytes)],
    ['disks', disks.length === 0 ? '(none)' : disks.map((d) => `${d.name} ${formatBytes(d.sizeBytes)}${kind(d)}${d.model ? ` ${d.model}` : ''}`).join(', ')],
    ['nics', inv.nics.length === 0 ? '(none)' : inv.nics.map((n) => `${n.name} ${n.mac}${n.driver ? ` ${n.driver}` : ''}${n.speedMbps ? ` ${n.speedMbps} Mb/s` : ''}`).join(', ')],
    ['firmware', `${inv.firmware.mode}, secure boot ${onOffUnknown(inv.firmware.secureBoot)}${make ? `, ${make}` : ''}${inv.firmware.serial ? ` (serial ${inv.firmware.serial})` : ''}`],
    ['hardware seen', formatTime(inv.reportedAt)],
  ];
}

interface FactOptions {
  site?: string | false;
  hostname?: string | false;
  arch?: string | false;
  uuid?: string | false;
  serial?: string | false;
  state?: string;
  /** `--secure-boot on|off|unknown`. */
  secureBoot?: OnOffUnknown;
}

const SECURE_BOOT_HELP = 'Secure Boot in the firmware: on, off or unknown (on: UEFI x64 boots need a profile with --shim and --grub)';

/** `--x value` sets, `--no-x` clears (null), absent leaves alone (undefined). */
const setOrClear = <T>(v: T | false | undefined): T | null | undefined => (v === false ? null : v);

export function machinesCommand(): Command {
  const cmd = new Command('machines').alias('machine').description('machines by MAC: facts, labels, state, what they boot and how their boots went');

  cmd
    .command('list')
    .alias('ls')
    .description('list machines, filtered')
    .option('--site <site>', 'only this site (name or id)')
    .option('--state <state>', `only this state: ${STATES.join(', ')}`, oneOf(STATES))
    .option('--arch <arch>', 'only this architecture', parseArch)
    .option('-l, --label <key=value>', 'only machines with this label (repeat: all must match)', collect)
    .option('-q, --search <prefix>', 'hostname (any case) or MAC prefix')
    .option('--min-memory <size>', 'only machines whose reported memory is at least this (32GiB, 512MiB; a plain number is GiB)', parseMemory)
    .option('--min-cpus <n>', 'only machines with at least n reported logical CPUs', parseInteger(1, 16_384))
    .option('--limit <n>', 'at most n machines (default: all)', parseInteger(1, 1_000_000))
    .addHelpText('after', '\nMachines whose hardware was never reported (by the imager) are left out by --min-memory and --min-cpus.\nDerived hardware labels (hw.cpus, hw.memory-gib, hw.vendor…, see docs/inventory.md) work with --label.')
    .action(async (o: { site?: string; state?: string; arch?: string; label?: string[]; search?: string; minMemory?: number; minCpus?: number; limit?: number }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const machines = await ctx
        .api()
        .list<Machine>('/v1/machines', { siteId, state: o.state, arch: o.arch, label: o.label, q: o.search, minMemoryBytes: o.minMemory, minCpus: o.minCpus }, o.limit);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      emit(ctx.out, machines, (rows) => machinesTable(rows, siteName, ctx.out.now()));
    });

  cmd
    .command('show')
    .description('one machine')
    .argument('<machine>', 'machine id, MAC (any spelling) or hostname')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      emit(ctx.out, m, () =>
        formatFields([
          ['mac', m.mac],
          ['id', m.id],
          ['hostname', m.hostname],
          ['site', m.siteId ? `${siteName(m.siteId)} (${m.siteId})` : '(none)'],
          ['state', m.state],
          ['arch', m.arch],
          ['secure boot', onOffUnknown(m.secureBoot)],
          ['uuid', m.uuid],
          ['serial', m.serial],
          ['labels', formatLabels(m.labels)],
          ...hardwareFields(m.inventory),
          ['last seen', m.lastSeenAt ? `${formatTime(m.lastSeenAt)} (${formatAgo(m.lastSeenAt, now)})` : 'never'],
          ['created', formatTime(m.createdAt)],
          ['updated', formatTime(m.updatedAt)],
        ]),
      );
    });

  cmd
    .command('create')
    .alias('register')
    .description('register a machine by MAC before it first boots')
    .argument('<mac>', 'MAC address', parseMac)
    .option('--site <site>', 'site name or id')
    .option('--hostname <name>', 'hostname')
    .option('-l, --label <key=value>', 'label (repeat)', collectLabel)
    .option('--arch <arch>', 'architecture', parseArch)
    .option('--uuid <uuid>', 'SMBIOS UUID')
    .option('--serial <serial>', 'serial number')
    .option('--state <state>', `initial state: ${STATES.join(', ')}`, oneOf(STATES))
    .option('--secure-boot <on|off|unknown>', SECURE_BOOT_HELP, parseOnOffUnknown)
    .action(async (mac: string, o: FactOptions & { label?: Record<string, string> }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = typeof o.site === 'string' ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const m = await ctx.api().post<Machine>('/v1/machines', {
        mac,
        siteId,
        hostname: o.hostname || undefined,
        labels: o.label,
        arch: o.arch || undefined,
        uuid: o.uuid || undefined,
        serial: o.serial || undefined,
        state: o.state,
        secureBoot: onOffValue(o.secureBoot),
      });
      emit(ctx.out, m, () => `registered machine ${m.mac} (${m.id})`);
    });

  cmd
    .command('update')
    .description("change a machine's hostname, labels, site, facts or state")
    .argument('<machine>', 'machine id, MAC or hostname')
    .option('--hostname <name>', 'set the hostname')
    .option('--no-hostname', 'clear the hostname')
    .option('-l, --label <key=value>', 'set a label (repeat); other labels are kept', collectLabel)
    .option('--unlabel <key>', 'remove a label (repeat)', collect)
    .option('--clear-labels', 'remove every label first')
    .option('--site <site>', 'move to this site (name or id)')
    .option('--no-site', 'take the machine out of every site (admin)')
    .option('--arch <arch>', 'set the architecture', parseArch)
    .option('--no-arch', 'clear the architecture')
    .option('--uuid <uuid>', 'set the SMBIOS UUID')
    .option('--no-uuid', 'clear the UUID')
    .option('--serial <serial>', 'set the serial number')
    .option('--no-serial', 'clear the serial number')
    .option('--state <state>', `set the state: ${STATES.join(', ')}`, oneOf(STATES))
    .option('--secure-boot <on|off|unknown>', SECURE_BOOT_HELP, parseOnOffUnknown)
    .action(async (ref: string, o: FactOptions & { label?: Record<string, string>; unlabel?: string[]; clearLabels?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const patch: Record<string, unknown> = {
        hostname: setOrClear(o.hostname),
        arch: setOrClear(o.arch),
        uuid: setOrClear(o.uuid),
        serial: setOrClear(o.serial),
        state: o.state,
        secureBoot: onOffValue(o.secureBoot),
      };
      if (o.site === false) patch.siteId = null;
      else if (typeof o.site === 'string') patch.siteId = (await resolveSite(ctx.api(), o.site)).id;
      if (o.label || o.unlabel || o.clearLabels) {
        // The API replaces labels as a whole; merging here makes --label add, not replace.
        const labels: Record<string, string> = { ...(o.clearLabels ? {} : m.labels), ...o.label };
        for (const k of o.unlabel ?? []) delete labels[k];
        patch.labels = labels;
      }
      if (Object.values(patch).every((v) => v === undefined)) throw usageError('nothing to change', 'give at least one option, e.g. --hostname or --label (see --help)');
      const next = await ctx.api().patch<Machine>(`/v1/machines/${m.id}`, patch);
      emit(ctx.out, next, () => `updated machine ${next.mac} (${next.id})`);
    });

  addDeleteCommand(cmd, {
    noun: 'machine',
    description: 'delete a machine and its own assignments (it is rediscovered if it netboots again)',
    argument: 'machine',
    argHelp: 'machine id, MAC or hostname',
    collection: 'machines',
    resolve: resolveMachine,
    label: (x) => x.mac,
  });

  cmd
    .command('explain')
    .description('what the machine would boot now, and why (changes nothing); also for a MAC that never booted')
    .argument('<machine>', 'machine id, MAC or hostname; a MAC no machine has yet is explained as its first boot')
    .option('--arch <arch>', `decide for this architecture instead of the machine's recorded one: ${acceptedArchs()}`, parseArch)
    .option('--site <site>', 'decide at this site (name or id): for a MAC not registered yet (the site default), or a machine of no site')
    .addHelpText(
      'after',
      '\nA machine that never booted has no recorded architecture (the firmware reports it in DHCP): give --arch.\nA MAC unknown to the fleet needs --site unless an assignment names it.',
    )
    .action(async (ref: string, o: { arch?: string; site?: string }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      // A MAC goes to the API as it is: it may name no machine yet, which the API explains as a first boot.
      const mac = normalizeMac(ref);
      const m = mac ? await ctx.api().get<Machine>(`/v1/machines/${mac}`).catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err))) : await resolveMachine(ctx.api(), ref);
      const e = await ctx
        .api()
        .get<BootExplanation>(`/v1/machines/${m?.id ?? mac}/explain`, { arch: o.arch, site: siteId })
        .catch((err: unknown) => {
          // The API's words are for any client; on the command line the site is --site.
          if (err instanceof ApiError && err.status === 404 && !m) throw new CliError(EXIT.NOT_FOUND, err.message, { hint: "give --site SITE to see what that site's default would boot", details: err.details });
          throw err;
        });
      emit(ctx.out, e, () =>
        formatFields([
          ['machine', m ? `${m.mac}${m.hostname ? ` (${m.hostname})` : ''}` : `${mac} (not registered)`],
          ['action', e.action],
          ['profile', e.profile ? `${e.profile.name} (${e.profile.id})` : null],
          ['once', e.action === 'boot' ? (e.once ? 'yes: after success it boots its local disk' : 'no') : null],
          ['arch', e.arch],
          ['loader', e.loader === 'shim' ? 'shim → GRUB (signed chain)' : e.loader],
          ['assignment', e.assignmentId],
          ['reason', e.reason.replace(/give an architecture to decide for \(arch: [^)]*\)/, `give --arch, ${acceptedArchs()}`)],
        ]),
      );
    });

  cmd
    .command('assignment')
    .description('the assignment that applies to the machine now, and why')
    .argument('<machine>', 'machine id, MAC or hostname')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const match = await ctx.api().get<{ assignment: Assignment | null; reason: string; specificity: number | null }>(`/v1/machines/${m.id}/assignment`);
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      emit(ctx.out, match, (x) =>
        formatFields([
          ['assignment', x.assignment?.id ?? '(none)'],
          ['profile', x.assignment ? profileName(x.assignment.profileId) : null],
          ['once', x.assignment ? String(x.assignment.once) : null],
          ['reason', x.reason],
        ]),
      );
    });

  cmd
    .command('timeline')
    .description("the machine's last boots: relay, cloud and installer events with stage durations")
    .argument('<machine>', 'machine id, MAC or hostname')
    .option('-n, --boots <n>', 'how many boots (1-50, default 10)', parseInteger(1, 50))
    .action(async (ref: string, o: { boots?: number }, c: Command) => {
      const ctx = contextOf(c);
      const m = await resolveMachine(ctx.api(), ref);
      const t = await ctx.api().get<Timeline>(`/v1/machines/${m.id}/timeline`, { limit: o.boots });
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      emit(ctx.out, t, (x) => formatTimeline(x, profileName));
    });

  addReprovisionOptions(
    cmd
      .command('reprovision')
      .description('netboot the machine again: forget its completed one-shot assignments and mark it ready; with --power-cycle, make it netboot now through its BMC')
      .argument('[machine]', 'machine id, MAC or hostname (or --site/--label for many)'),
  ).action(async (ref: string | undefined, o: PowerCycleOptions, c: Command) => reprovision(c, ref, o));

  addBmcCommands(cmd);

  return cmd;
}

const ms = (v: number | null): string => (v === null ? '' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);

/** Boots newest first, each with its stages in time order and what each took. */
export function formatTimeline(t: Timeline, profileName: NameOf): string {
  if (t.boots.length === 0) return `no boots recorded for ${t.mac}`;
  const blocks = t.boots.map((b) => {
    const head = [
      `boot ${b.bootId ?? '(no boot record)'}  ${b.outcome}`,
      `${formatTime(b.startedAt)} → ${formatTime(b.endedAt)}`,
      b.profileId ? `profile ${profileName(b.profileId)}` : '',
    ]
      .filter(Boolean)
      .join('  ');
    const t0 = Date.parse(b.startedAt);
    const stages = formatTable(b.stages, [
      { header: '+time', value: (s) => `+${ms(Date.parse(s.at) - t0)}`, align: 'right' },
      { header: 'stage', value: (s) => s.stage },
      { header: 'source', value: (s) => s.source },
      { header: 'took', value: (s) => ms(s.durationMs), align: 'right' },
      { header: 'detail', value: (s) => (s.detail ? Object.entries(s.detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '') },
    ]);
    const tail = b.logTail ? `\n  log tail:\n${b.logTail.split('\n').slice(-10).map((l) => `    ${l}`).join('\n')}` : '';
    return `${head}\n${stages.split('\n').map((l) => `  ${l}`).join('\n')}${tail}`;
  });
  return blocks.join('\n\n') + (t.truncated ? '\n\n(older boots exist: raise --boots)' : '');
}
