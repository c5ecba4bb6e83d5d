import { Command } from 'commander';
import { idPattern } from '../../../shared/ids.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import type { Assignment, AssignmentCreated } from '../../../shared/schemas/assignment.ts';
import { contextOf } from '../context.ts';
import { usageError } from '../errors.ts';
import { namesOf, type NameOf } from '../names.ts';
import { emit, formatFields, formatLabels, formatTable, formatTime } from '../output.ts';
import { collectLabel, parseArch, parseInteger, parseMac } from '../parse.ts';
import { resolveMachine, resolveProfile, resolveSite } from '../resolve.ts';

/** A selector as people read it: "mac 52:54:00:… · site lyon · labels rack=r1 · arch bios". */
export function formatSelector(s: Assignment['selector'], siteName: NameOf): string {
  const parts: string[] = [];
  if (s.machineId) parts.push(`machine ${s.machineId}`);
  if (s.mac) parts.push(`mac ${s.mac}`);
  if (s.siteId) parts.push(`site ${siteName(s.siteId)}`);
  if (s.labels && Object.keys(s.labels).length > 0) parts.push(`labels ${formatLabels(s.labels)}`);
  if (s.arch) parts.push(`arch ${s.arch}`);
  return parts.join(' · ');
}

function assignmentsTable(rows: readonly Assignment[], siteName: NameOf, profileName: NameOf): string {
  return formatTable(
    rows,
    [
      { header: 'id', value: (a) => a.id },
      { header: 'selector', value: (a) => formatSelector(a.selector, siteName) },
      { header: 'profile', value: (a) => profileName(a.profileId) },
      { header: 'once', value: (a) => (a.once ? 'yes' : 'no') },
      { header: 'priority', value: (a) => a.priority, align: 'right' },
    ],
    '(no assignments)',
  );
}

const onceHelp = 'boot the profile until the machine reports success, then its local disk (a one-shot install)';

/** "debian-12 (asg_…, once)": an assignment as the replace message names it. */
function describeReplaced(a: Assignment, profileName: NameOf): string {
  const extra = [a.id, a.once ? 'once' : '', a.priority !== 0 ? `priority ${a.priority}` : ''].filter(Boolean).join(', ');
  return `${profileName(a.profileId) ?? a.profileId} (${extra})`;
}

/**
 * `edgeboot assign <machine> <profile>`: the everyday case, one machine by MAC. It replaces what
 * was assigned to that machine (by MAC or id) in one API call (`replace: true`: the delete and the
 * insert are one transaction), and says what it replaced; `--add` keeps the others beside it.
 */
export function assignCommand(): Command {
  return new Command('assign')
    .description("assign a profile to one machine (by MAC, which works before the machine is known, or by id/hostname), replacing the machine's current assignment")
    .argument('<machine>', 'MAC address (any spelling), machine id, or hostname')
    .argument('<profile>', 'profile name or id')
    .option('--once', onceHelp)
    .option('--priority <n>', 'breaks ties between equally specific matches; higher wins (-1000…1000)', parseInteger(-1000, 1000))
    .option('--add', "keep the machine's other machine/MAC assignments (by default they are replaced)")
    .addHelpText(
      'after',
      '\nAssignments that name the machine (by MAC or id) are replaced; rules by site, label or arch are not touched.\n\nExample:\n  edgeboot assign 52:54:00:12:34:56 ubuntu-24.04 --once',
    )
    .action(async (machineRef: string, profileRef: string, o: { once?: boolean; priority?: number; add?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const api = ctx.api();
      const profile = await resolveProfile(api, profileRef);
      // A MAC selector stays valid before the machine first boots and is what `apply` manages too.
      const mac = normalizeMac(machineRef) ?? (await resolveMachine(api, machineRef)).mac;
      const a = await api.post<AssignmentCreated>('/v1/assignments', { profileId: profile.id, selector: { mac }, once: Boolean(o.once), priority: o.priority, replace: !o.add });
      const replaced = a.replaced ?? [];
      const profileName = replaced.length > 0 ? await namesOf(api, '/v1/profiles') : () => '';
      emit(ctx.out, a, () =>
        [
          `assigned ${profile.name} to ${mac}${a.once ? ' (once)' : ''}: ${a.id}`,
          ...(replaced.length > 0 ? [`replaced ${replaced.map((r) => describeReplaced(r, profileName)).join(', ')}`] : []),
        ].join('\n'),
      );
    });
}

export function assignmentsCommand(): Command {
  const cmd = new Command('assignments').alias('assignment').description('selector → profile rules; the most specific match wins (machine > labels > site > arch)');

  cmd
    .command('list')
    .alias('ls')
    .description('list assignments')
    .option('--site <site>', "only this site's (name or id)")
    .option('--machine <machine>', "only this machine's own (id, MAC or hostname)")
    .option('--profile <profile>', 'only those booting this profile (name or id)')
    .action(async (o: { site?: string; machine?: string; profile?: string }, c: Command) => {
      const ctx = contextOf(c);
      const api = ctx.api();
      const query = {
        siteId: o.site ? (await resolveSite(api, o.site)).id : undefined,
        machineId: o.machine ? (await resolveMachine(api, o.machine)).id : undefined,
        profileId: o.profile ? (await resolveProfile(api, o.profile)).id : undefined,
      };
      const rows = await api.list<Assignment>('/v1/assignments', query);
      const [siteName, profileName] = await Promise.all([namesOf(api, '/v1/sites'), namesOf(api, '/v1/profiles')]);
      emit(ctx.out, rows, (r) => assignmentsTable(r, siteName, profileName));
    });

  cmd
    .command('show')
    .description('one assignment')
    .argument('<id>', 'assignment id')
    .action(async (id: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const a = await ctx.api().get<Assignment>(`/v1/assignments/${encodeURIComponent(id)}`);
      const [siteName, profileName] = await Promise.all([namesOf(ctx.api(), '/v1/sites'), namesOf(ctx.api(), '/v1/profiles')]);
      emit(ctx.out, a, () =>
        formatFields([
          ['id', a.id],
          ['selector', formatSelector(a.selector, siteName)],
          ['profile', `${profileName(a.profileId)} (${a.profileId})`],
          ['once', a.once ? 'yes' : 'no'],
          ['priority', a.priority],
          ['created', formatTime(a.createdAt)],
          ['updated', formatTime(a.updatedAt)],
        ]),
      );
    });

  cmd
    .command('create')
    .description('assign a profile to every machine a selector matches (all given parts must match)')
    .requiredOption('--profile <profile>', 'profile name or id')
    .option('--mac <mac>', 'one machine by MAC', parseMac)
    .option('--machine <machine>', 'one known machine (id or hostname)')
    .option('--site <site>', 'machines of this site (name or id)')
    .option('-l, --label <key=value>', 'machines with this label (repeat: all must match)', collectLabel)
    .option('--arch <arch>', 'machines of this architecture', parseArch)
    .option('--once', onceHelp)
    .option('--priority <n>', 'higher wins among equally specific matches (-1000…1000)', parseInteger(-1000, 1000))
    .addHelpText('after', '\nExamples:\n  edgeboot assignments create --profile rescue --site lyon --label rack=r12\n  edgeboot assignments create --profile uefi-menu --arch uefi-x64 --priority -10')
    .action(async (o: { profile: string; mac?: string; machine?: string; site?: string; label?: Record<string, string>; arch?: string; once?: boolean; priority?: number }, c: Command) => {
      const ctx = contextOf(c);
      const api = ctx.api();
      const selector: Record<string, unknown> = { mac: o.mac, labels: o.label, arch: o.arch };
      if (o.machine) selector.machineId = idPattern('machine').test(o.machine) ? o.machine : (await resolveMachine(api, o.machine)).id;
      if (o.site) selector.siteId = (await resolveSite(api, o.site)).id;
      if (Object.values(selector).every((v) => v === undefined)) throw usageError('a selector needs at least one of --mac, --machine, --site, --label, --arch');
      const profile = await resolveProfile(api, o.profile);
      const a = await api.post<Assignment>('/v1/assignments', { profileId: profile.id, selector, once: Boolean(o.once), priority: o.priority });
      emit(ctx.out, a, () => `created assignment ${a.id}: ${profile.name}${a.once ? ' (once)' : ''}`);
    });

  cmd
    .command('update')
    .description("change an assignment's profile, once flag or priority (the selector is fixed: create another)")
    .argument('<id>', 'assignment id')
    .option('--profile <profile>', 'profile name or id')
    .option('--once', onceHelp)
    .option('--no-once', 'boot the profile every time')
    .option('--priority <n>', 'higher wins among equally specific matches', parseInteger(-1000, 1000))
    .action(async (id: string, o: { profile?: string; once?: boolean; priority?: number }, c: Command) => {
      const ctx = contextOf(c);
      const patch = { profileId: o.profile ? (await resolveProfile(ctx.api(), o.profile)).id : undefined, once: o.once, priority: o.priority };
      if (Object.values(patch).every((v) => v === undefined)) throw usageError('nothing to change', 'give --profile, --once/--no-once or --priority');
      const a = await ctx.api().patch<Assignment>(`/v1/assignments/${encodeURIComponent(id)}`, patch);
      emit(ctx.out, a, () => `updated assignment ${a.id}`);
    });

  cmd
    .command('delete')
    .alias('rm')
    .description('delete an assignment')
    .argument('<id>', 'assignment id')
    .action(async (id: string, _o, c: Command) => {
      const ctx = contextOf(c);
      await ctx.api().delete(`/v1/assignments/${encodeURIComponent(id)}`);
      emit(ctx.out, { deleted: id }, () => `deleted assignment ${id}`);
    });

  return cmd;
}
