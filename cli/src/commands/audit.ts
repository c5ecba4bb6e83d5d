import { Command } from 'commander';
import type { AuditEntry } from '../../../shared/schemas/access.ts';
import type { z } from 'zod';
import { contextOf } from '../context.ts';
import { emit, formatTable, formatTime } from '../output.ts';
import { parseInteger, parseSince } from '../parse.ts';
import { resolveSite } from '../resolve.ts';

type Entry = z.infer<typeof AuditEntry>;

export function auditCommand(): Command {
  const cmd = new Command('audit').description('the audit log: one entry per mutating call, refused ones included (admin)');
  cmd
    .command('list', { isDefault: true })
    .alias('ls')
    .description('audit entries, newest first')
    .option('--since <time>', 'only entries since a time (2025-03-01T12:00:00Z) or a duration back (2h, 7d)', parseSince(Date.now))
    .option('--actor <token-id>', 'only calls made with this token (or "anonymous")')
    .option('--target <id>', 'only calls about this object id')
    .option('--site <site>', 'only calls about this site (name or id)')
    .option('--failed', 'only refused or failed calls')
    .option('--limit <n>', 'at most n entries (default 50)', parseInteger(1, 100_000), 50)
    .action(async (o: { since?: string; actor?: string; target?: string; site?: string; failed?: boolean; limit: number }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const query = { since: o.since, actor: o.actor, target: o.target, siteId };
      let entries: Entry[];
      if (o.failed) {
        // The API has no result filter: page through until enough failures are found.
        entries = (await ctx.api().list<Entry>('/v1/audit', query, 10_000)).filter((e) => e.result !== 'ok').slice(0, o.limit);
      } else {
        entries = await ctx.api().list<Entry>('/v1/audit', query, o.limit);
      }
      emit(ctx.out, entries, (rows) =>
        formatTable(
          rows,
          [
            { header: 'time', value: (e) => formatTime(e.at) },
            { header: 'actor', value: (e) => e.actor },
            { header: 'action', value: (e) => e.action },
            { header: 'target', value: (e) => e.target },
            { header: 'result', value: (e) => e.result },
            { header: 'status', value: (e) => e.status, align: 'right' },
            { header: 'request', value: (e) => e.requestId },
          ],
          '(no entries)',
        ),
      );
    });
  return cmd;
}
