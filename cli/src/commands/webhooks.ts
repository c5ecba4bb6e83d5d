import { Command, InvalidArgumentError, Option } from 'commander';
import { WEBHOOK_EVENT_TYPES, type Webhook, type WebhookDelivery } from '../../../shared/schemas/webhook.ts';
import { contextOf } from '../context.ts';
import { ExitStatus } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { namesOf } from '../names.ts';
import { emit, formatAgo, formatTable, formatTime } from '../output.ts';
import { collect, parseInteger } from '../parse.ts';
import { resolveSite } from '../resolve.ts';

/** `edgeboot webhooks`: subscriptions of other systems to the fleet's events (admin, or a site's operator). */

function eventType(value: string, previous: string[] | undefined): string[] {
  if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Allowed choices are ${WEBHOOK_EVENT_TYPES.join(', ')}.`);
  return collect(value, previous);
}

const lastOutcome = (d: WebhookDelivery) => (d.lastStatus !== null ? String(d.lastStatus) : (d.lastError ?? ''));

export function webhooksCommand(): Command {
  const cmd = new Command('webhooks').alias('webhook').description("tell other systems what happened: signed HTTPS POSTs of machine, relay and power-job events");

  cmd
    .command('list')
    .alias('ls')
    .description('list webhooks with their delivery counts')
    .option('--site <site>', 'only this site (name or id)')
    .action(async (o: { site?: string }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const hooks = await ctx.api().list<Webhook>('/v1/webhooks', siteId ? { siteId } : {});
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      emit(ctx.out, hooks, (rows) =>
        formatTable(
          rows,
          [
            { header: 'id', value: (w) => w.id },
            { header: 'url', value: (w) => w.url },
            { header: 'site', value: (w) => (w.siteId === null ? 'all sites' : (siteName(w.siteId) ?? w.siteId)) },
            { header: 'events', value: (w) => (w.events.length === WEBHOOK_EVENT_TYPES.length ? 'all' : w.events.join(',')) },
            { header: 'pending', value: (w) => w.deliveries.pending },
            { header: 'ok', value: (w) => w.deliveries.succeeded },
            { header: 'failed', value: (w) => w.deliveries.failed },
            { header: 'last', value: (w) => (w.lastDelivery ? `${w.lastDelivery.state} ${formatAgo(w.lastDelivery.at, now)}` : '') },
          ],
          '(no webhooks)',
        ),
      );
    });

  cmd
    .command('create')
    .description('subscribe a receiver; its signing secret is printed once')
    .argument('<url>', 'https:// URL the events are POSTed to')
    .option('--site <site>', "this site's events only (name or id); default: the whole fleet (admin)")
    .addOption(new Option('--event <type>', `an event type to send (repeat; default: all): ${WEBHOOK_EVENT_TYPES.join(', ')}`).argParser(eventType))
    .option('-d, --description <text>', 'what the receiver is, for people')
    .addHelpText(
      'after',
      '\nEvery POST carries webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks, HMAC-SHA256):\nverify the signature and refuse timestamps more than 5 minutes off. See README "Webhooks".\n\nExample:\n  edgeboot webhooks create https://tickets.example.com/hooks/edgeboot --site lyon --event machine.failed --event relay.offline',
    )
    .action(async (url: string, o: { site?: string; event?: string[]; description?: string }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const w = await ctx.api().post<Webhook & { secret: string }>('/v1/webhooks', { url, siteId, events: o.event, description: o.description });
      emit(ctx.out, w, () => [`created webhook ${w.id} for ${w.siteId === null ? 'all sites' : (o.site ?? w.siteId)}: ${w.url}`, `secret: ${w.secret}`, 'it is shown only this once; give it to the receiver now.'].join('\n'));
    });

  cmd
    .command('delete')
    .alias('rm')
    .description('delete a webhook and its delivery log')
    .argument('<id>', 'webhook id')
    .action(async (id: string, _o, c: Command) => {
      const ctx = contextOf(c);
      await ctx.api().delete(`/v1/webhooks/${encodeURIComponent(id)}`);
      emit(ctx.out, { deleted: id }, () => `deleted webhook ${id}`);
    });

  cmd
    .command('deliveries')
    .description("a webhook's delivery log, newest first")
    .argument('<id>', 'webhook id')
    .addOption(new Option('--state <state>', 'only deliveries in this state').choices(['pending', 'delivering', 'succeeded', 'failed']))
    .option('--limit <n>', 'how many (1-100)', parseInteger(1, 100), 20)
    .action(async (id: string, o: { state?: string; limit: number }, c: Command) => {
      const ctx = contextOf(c);
      const page = await ctx.api().get<{ items: WebhookDelivery[] }>(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`, { limit: o.limit, state: o.state });
      emit(ctx.out, page.items, (rows) =>
        formatTable(
          rows,
          [
            { header: 'time', value: (d) => formatTime(d.occurredAt) },
            { header: 'event', value: (d) => d.eventType },
            { header: 'state', value: (d) => d.state },
            { header: 'attempts', value: (d) => d.attempts },
            { header: 'last', value: lastOutcome },
            { header: 'next', value: (d) => formatTime(d.nextAttemptAt) },
            { header: 'id', value: (d) => d.id },
          ],
          '(no deliveries)',
        ),
      );
    });

  cmd
    .command('test')
    .description('send a webhook.test event now; with --wait, print how its first attempt went')
    .argument('<id>', 'webhook id')
    .option('--wait', 'wait (up to 30 s) for the first attempt; exit 1 if the receiver did not accept it')
    .action(async (id: string, o: { wait?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const path = `/v1/webhooks/${encodeURIComponent(id)}`;
      let d = await ctx.api().post<WebhookDelivery>(`${path}/test`);
      if (o.wait) {
        for (let i = 0; i < 120 && d.attempts === 0; i++) {
          await new Promise((r) => setTimeout(r, 250));
          d = (await ctx.api().get<{ items: WebhookDelivery[] }>(`${path}/deliveries`, { limit: 100 })).items.find((x) => x.id === d.id) ?? d;
        }
      }
      const accepted = d.state === 'succeeded';
      emit(ctx.out, d, () =>
        !o.wait
          ? `queued test event ${d.eventId} (delivery ${d.id})`
          : d.attempts === 0
            ? `test event ${d.eventId} not attempted yet (delivery ${d.id}): is the control plane's delivery running?`
            : accepted
              ? `receiver accepted test event ${d.eventId}: ${d.lastStatus}`
              : `receiver did not accept test event ${d.eventId}: ${lastOutcome(d)}; next attempt ${d.nextAttemptAt ? formatTime(d.nextAttemptAt) : 'none'}`,
      );
      if (o.wait && !accepted) throw new ExitStatus(EXIT.ERROR, 'the receiver did not accept the test event');
    });

  return cmd;
}
