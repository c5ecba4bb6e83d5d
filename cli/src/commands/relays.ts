import { Command } from 'commander';
import type { Relay } from '../../../shared/schemas/access.ts';
import { contextOf } from '../context.ts';
import { namesOf } from '../names.ts';
import { emit, formatAgo, formatFields, formatTable, formatTime } from '../output.ts';
import { parseDuration } from '../parse.ts';
import { resolveRelay, resolveSite } from '../resolve.ts';

/** Relays heartbeat every minute (relay/src/sync/heartbeat.ts): three missed ones mean trouble. */
const ONLINE_WITHIN_MS = 3 * 60_000;

/** A relay's health as one word, from its last heartbeat. */
export function relayHealth(r: Pick<Relay, 'revokedAt' | 'lastSeenAt'>, now: number): 'revoked' | 'online' | 'stale' | 'never seen' {
  if (r.revokedAt) return 'revoked';
  if (!r.lastSeenAt) return 'never seen';
  return now - Date.parse(r.lastSeenAt) <= ONLINE_WITHIN_MS ? 'online' : 'stale';
}

export function relaysCommand(): Command {
  const cmd = new Command('relays').description('the on-prem relays of each site: enrollment codes, health, revocation');

  cmd
    .command('list')
    .alias('ls')
    .description('list relays with their health (last heartbeat, version, address)')
    .option('--site <site>', 'only this site (name or id)')
    .option('--all', 'include revoked relays')
    .action(async (o: { site?: string; all?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const relays = (await ctx.api().list<Relay>('/v1/relays', { siteId })).filter((r) => o.all || !r.revokedAt);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      emit(ctx.out, relays, (rows) =>
        formatTable(
          rows,
          [
            { header: 'name', value: (r) => r.name },
            { header: 'id', value: (r) => r.id },
            { header: 'site', value: (r) => siteName(r.siteId) },
            { header: 'health', value: (r) => relayHealth(r, now) },
            { header: 'last seen', value: (r) => formatAgo(r.lastSeenAt, now) },
            { header: 'version', value: (r) => r.version },
            { header: 'address', value: (r) => r.address },
          ],
          '(no relays)',
        ),
      );
    });

  cmd
    .command('show')
    .description('one relay')
    .argument('<relay>', 'relay id (or name, when only one relay has it)')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const r = await resolveRelay(ctx.api(), ref);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      emit(ctx.out, r, () =>
        formatFields([
          ['name', r.name],
          ['id', r.id],
          ['site', `${siteName(r.siteId)} (${r.siteId})`],
          ['health', relayHealth(r, now)],
          ['last seen', `${formatTime(r.lastSeenAt)} (${formatAgo(r.lastSeenAt, now)})`],
          ['version', r.version],
          ['address', r.address],
          ['enrolled', formatTime(r.createdAt)],
          ['revoked', formatTime(r.revokedAt)],
        ]),
      );
    });

  cmd
    .command('enroll-code')
    .alias('code')
    .description('create a one-time code that enrolls one relay in a site (shown only once)')
    .argument('<site>', 'site name or id')
    .option('--expires <duration>', 'lifetime: 60s to 24h (e.g. 15m, 2h); default 1h', parseDuration)
    .addHelpText('after', '\nOn the relay box: edgeboot-relay enroll --cloud URL --code CODE')
    .action(async (ref: string, o: { expires?: number }, c: Command) => {
      const ctx = contextOf(c);
      const site = await resolveSite(ctx.api(), ref);
      const code = await ctx.api().post<{ code: string; siteId: string; expiresAt: string }>(
        `/v1/sites/${site.id}/enrollment-codes`,
        o.expires === undefined ? {} : { expiresInSeconds: o.expires },
      );
      emit(ctx.out, code, (x) =>
        [
          `enrollment code for site ${site.name}: ${x.code}`,
          `expires ${formatTime(x.expiresAt)}; it works once and is not shown again.`,
          `on the relay: edgeboot-relay enroll --cloud ${ctx.api().url} --code ${x.code}`,
        ].join('\n'),
      );
    });

  cmd
    .command('revoke')
    .description('revoke a relay and its token: it can no longer sync or boot machines')
    .argument('<relay>', 'relay id (or name, when only one relay has it)')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const r = await resolveRelay(ctx.api(), ref);
      await ctx.api().delete(`/v1/relays/${r.id}`);
      emit(ctx.out, { revoked: r.id }, () => `revoked relay ${r.name} (${r.id})`);
    });

  return cmd;
}
