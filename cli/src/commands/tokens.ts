import { Command, Option } from 'commander';
import type { Token } from '../../../shared/schemas/access.ts';
import { contextOf } from '../context.ts';
import { namesOf } from '../names.ts';
import { emit, formatAgo, formatFields, formatTable, formatTime } from '../output.ts';
import { collect, parseDuration } from '../parse.ts';
import { resolveSite } from '../resolve.ts';

function tokenState(t: Token, now: number): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

export function tokensCommand(): Command {
  const cmd = new Command('tokens').alias('token').description('API tokens for people and scripts (admin)');

  cmd
    .command('list')
    .alias('ls')
    .description('list tokens (relay tokens included); secrets are never shown again')
    .option('--all', 'include revoked and expired tokens')
    .action(async (o: { all?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const now = ctx.out.now();
      const tokens = (await ctx.api().list<Token>('/v1/tokens')).filter((t) => o.all || tokenState(t, now) === 'active');
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      emit(ctx.out, tokens, (rows) =>
        formatTable(
          rows,
          [
            { header: 'name', value: (t) => t.name },
            { header: 'id', value: (t) => t.id },
            { header: 'role', value: (t) => t.role },
            { header: 'sites', value: (t) => (t.siteIds === null ? 'all' : t.siteIds.map((s) => siteName(s)).join(',')) },
            { header: 'prefix', value: (t) => t.prefix },
            { header: 'state', value: (t) => tokenState(t, now) },
            { header: 'expires', value: (t) => (t.expiresAt ? formatAgo(t.expiresAt, now) : 'never') },
            { header: 'last used', value: (t) => formatAgo(t.lastUsedAt, now) },
          ],
          '(no tokens)',
        ),
      );
    });

  cmd
    .command('show')
    .description('one token, without its secret')
    .argument('<id>', 'token id')
    .action(async (id: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const t = await ctx.api().get<Token>(`/v1/tokens/${encodeURIComponent(id)}`);
      const now = ctx.out.now();
      emit(ctx.out, t, () =>
        formatFields([
          ['name', t.name],
          ['id', t.id],
          ['role', t.role],
          ['sites', t.siteIds === null ? 'all' : t.siteIds.join(', ')],
          ['relay', t.relayId],
          ['prefix', t.prefix],
          ['state', tokenState(t, now)],
          ['created', formatTime(t.createdAt)],
          ['expires', t.expiresAt ? formatTime(t.expiresAt) : 'never'],
          ['revoked', formatTime(t.revokedAt)],
          ['last used', formatTime(t.lastUsedAt)],
        ]),
      );
    });

  cmd
    .command('create')
    .description('create a token; its secret is printed once (admin)')
    .argument('<name>', 'what the token is for, e.g. "ci deploy"')
    .addOption(new Option('--role <role>', 'admin: everything; operator: read/write in its sites; viewer: read-only').choices(['admin', 'operator', 'viewer']).makeOptionMandatory())
    .option('--site <site>', 'limit to this site (name or id; repeat); operators need at least one', collect)
    .option('--expires <duration>', 'lifetime, e.g. 90d, 12h (default: never)', parseDuration)
    .addHelpText('after', '\nExample:\n  edgeboot tokens create "lyon on-call" --role operator --site lyon --expires 30d')
    .action(async (name: string, o: { role: string; site?: string[]; expires?: number }, c: Command) => {
      const ctx = contextOf(c);
      const siteIds = o.site ? await Promise.all(o.site.map(async (s) => (await resolveSite(ctx.api(), s)).id)) : undefined;
      const t = await ctx.api().post<Token & { token: string }>('/v1/tokens', { name, role: o.role, siteIds, expiresInSeconds: o.expires });
      emit(ctx.out, t, () => [`created ${t.role} token ${t.name} (${t.id})`, `token: ${t.token}`, 'it is shown only this once; store it now.'].join('\n'));
    });

  cmd
    .command('revoke')
    .description('revoke a token: it is refused from now on')
    .argument('<id>', 'token id')
    .action(async (id: string, _o, c: Command) => {
      const ctx = contextOf(c);
      await ctx.api().delete(`/v1/tokens/${encodeURIComponent(id)}`);
      emit(ctx.out, { revoked: id }, () => `revoked token ${id}`);
    });

  return cmd;
}
