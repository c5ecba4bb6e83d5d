import { Command } from 'commander';
import type { Site } from '../../../shared/schemas/site.ts';
import { contextOf } from '../context.ts';
import { addDeleteCommand } from './delete-command.ts';
import { namesOf } from '../names.ts';
import { emit, formatFields, formatTable, formatTime } from '../output.ts';
import { resolveProfile, resolveSite } from '../resolve.ts';

export function sitesCommand(): Command {
  const cmd = new Command('sites').description('branch offices: each has relays, machines and a default for unknown machines');

  cmd
    .command('list')
    .alias('ls')
    .description('list the sites this token can see')
    .action(async (_o, c: Command) => {
      const ctx = contextOf(c);
      const sites = await ctx.api().list<Site>('/v1/sites');
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      emit(ctx.out, sites, (rows) =>
        formatTable(
          rows,
          [
            { header: 'name', value: (s) => s.name },
            { header: 'id', value: (s) => s.id },
            { header: 'default profile', value: (s) => profileName(s.defaultProfileId) ?? '(local disk)' },
            { header: 'description', value: (s) => s.description },
          ],
          '(no sites)',
        ),
      );
    });

  cmd
    .command('show')
    .description('one site')
    .argument('<site>', 'site name or id')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const site = await resolveSite(ctx.api(), ref);
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      emit(ctx.out, site, (s) => formatSite(s, profileName(s.defaultProfileId)));
    });

  cmd
    .command('create')
    .description('create a site (admin)')
    .argument('<name>', 'the site name, e.g. lyon')
    .option('-d, --description <text>', 'free text')
    .option('--default-profile <profile>', 'profile (name or id) unknown machines of this site boot; default: their local disk')
    .action(async (name: string, o: { description?: string; defaultProfile?: string }, c: Command) => {
      const ctx = contextOf(c);
      const defaultProfileId = o.defaultProfile ? (await resolveProfile(ctx.api(), o.defaultProfile)).id : undefined;
      const site = await ctx.api().post<Site>('/v1/sites', { name, description: o.description, defaultProfileId });
      emit(ctx.out, site, (s) => `created site ${s.name} (${s.id})`);
    });

  cmd
    .command('update')
    .description("change a site's name, description or default profile")
    .argument('<site>', 'site name or id')
    .option('--name <name>', 'new name')
    .option('-d, --description <text>', 'new description')
    .option('--default-profile <profile>', 'profile (name or id) unknown machines boot')
    .option('--no-default-profile', 'unknown machines boot their local disk')
    .action(async (ref: string, o: { name?: string; description?: string; defaultProfile?: string | false }, c: Command) => {
      const ctx = contextOf(c);
      const site = await resolveSite(ctx.api(), ref);
      const patch: Record<string, unknown> = { name: o.name, description: o.description };
      if (o.defaultProfile === false) patch.defaultProfileId = null;
      else if (typeof o.defaultProfile === 'string') patch.defaultProfileId = (await resolveProfile(ctx.api(), o.defaultProfile)).id;
      const next = await ctx.api().patch<Site>(`/v1/sites/${site.id}`, patch);
      emit(ctx.out, next, (s) => `updated site ${s.name} (${s.id})`);
    });

  addDeleteCommand(cmd, {
    noun: 'site',
    description: 'delete a site without machines or relays (admin)',
    argument: 'site',
    argHelp: 'site name or id',
    collection: 'sites',
    resolve: resolveSite,
    label: (x) => x.name,
  });

  return cmd;
}

function formatSite(s: Site, defaultProfile: string | null): string {
  return formatFields([
    ['name', s.name],
    ['id', s.id],
    ['description', s.description],
    ['default profile', defaultProfile ? `${defaultProfile} (${s.defaultProfileId})` : '(local disk)'],
    ['created', formatTime(s.createdAt)],
    ['updated', formatTime(s.updatedAt)],
  ]);
}
