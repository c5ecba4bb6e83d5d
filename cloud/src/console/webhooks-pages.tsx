/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Site } from '../../../shared/schemas/site.ts';
import { WEBHOOK_EVENT_TYPES, type Webhook, type WebhookDelivery } from '../../../shared/schemas/webhook.ts';
import type { FormState } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { echo, enc, formOf, html, refused, type C, type ConsoleRouter, type Kit, type Page } from './kit.tsx';
import { Badge, Csrf, described, Done, duration, Field, Layout, Pager, Problems, Table, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

const errOf = (form: FormState | undefined, name: string) => form?.issues.find((i) => i.path === name || i.path.startsWith(`${name}.`))?.message;
const siteName = (sites: Site[], id: string | null) => (id === null ? 'whole fleet' : (sites.find((s) => s.id === id)?.name ?? id));
const deliveryBadge = (state: string) => (state === 'succeeded' ? 'online' : state === 'failed' ? 'bad' : 'pending');

export const WebhooksPage: FC<{
  session: ConsoleSession;
  now: number;
  webhooks: Page<Webhook>;
  sites: Site[];
  first: boolean;
  ok?: string;
  form?: FormState;
  created?: Webhook & { secret: string };
}> = ({ session, now, webhooks, sites, first, ok, form, created }) => {
  const values = form?.values ?? {};
  const chosen = new Set((values.events ?? '').split('\n'));
  const admin = session.principal.role === 'admin';
  return (
    <Layout title="Webhooks" session={session} nav="webhooks">
      <h1>Webhooks</h1>
      <p class="hint">Other systems (a ticketing tool, a chat) hear here when machines are discovered, deployed or fail, relays go on or off line, and power jobs end.</p>
      <Done ok={ok} />
      {created && (
        <div class="msg" role="status">
          <p>Webhook created. Copy its signing secret now: it is shown only this once. Receivers check the webhook-signature header with it.</p>
          <p>
            <label for="w-secret">Signing secret</label>
            <input id="w-secret" class="mono" readonly value={created.secret} size={48} />
          </p>
          <p>
            <a href={`/console/webhooks/${created.id}`}>Its delivery log</a> (send a test event from there)
          </p>
        </div>
      )}
      {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => (['url', 'siteId', 'events', 'description'].includes(p.split('.')[0]!) ? `w-${p.split('.')[0]}` : null)} />}
      {webhooks.items.length === 0 ? (
        <p class="muted">No webhooks yet.</p>
      ) : (
        <Table>
          <thead>
            <tr>
              <th scope="col">Receiver</th>
              <th scope="col">Scope</th>
              <th scope="col">Events</th>
              <th scope="col">Last delivery</th>
              <th scope="col" class="num">
                Delivered / failed / waiting
              </th>
            </tr>
          </thead>
          <tbody>
            {webhooks.items.map((w) => (
              <tr>
                <td>
                  <a href={`/console/webhooks/${w.id}`}>{w.description || new URL(w.url).host}</a>
                  <br />
                  <span class="mono hint">{w.url}</span>
                </td>
                <td>{siteName(sites, w.siteId)}</td>
                <td>{w.events.length === WEBHOOK_EVENT_TYPES.length ? 'all' : w.events.join(', ')}</td>
                <td>
                  {w.lastDelivery ? (
                    <>
                      <Badge value={deliveryBadge(w.lastDelivery.state)} label={w.lastDelivery.state} /> {w.lastDelivery.eventType} <Time at={w.lastDelivery.at} now={now} />
                    </>
                  ) : (
                    <span class="muted">none yet</span>
                  )}
                </td>
                <td class="num">{`${w.deliveries.succeeded} / ${w.deliveries.failed} / ${w.deliveries.pending}`}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      <Pager next={webhooks.nextCursor} base="/console/webhooks" first={first} />
      <section aria-labelledby="h-new-webhook" id="new">
        <h2 id="h-new-webhook">New webhook</h2>
        <form method="post" action="/console/webhooks" class="stack">
          <Csrf session={session} />
          <Field id="w-url" label="Receiver URL" hint="https://…; private and loopback addresses are refused" error={errOf(form, 'url')}>
            <input id="w-url" name="url" type="url" required maxlength={2048} value={values.url ?? ''} {...described('w-url', true, errOf(form, 'url'))} />
          </Field>
          <Field id="w-siteId" label="Events of" error={errOf(form, 'siteId')}>
            <select id="w-siteId" name="siteId" {...described('w-siteId', false, errOf(form, 'siteId'))}>
              {admin && <option value="">The whole fleet</option>}
              {sites.map((s) => (
                <option value={s.id} selected={values.siteId === s.id}>
                  {`Site ${s.name}`}
                </option>
              ))}
            </select>
          </Field>
          <fieldset id="w-events">
            <legend>Events (none ticked: all)</legend>
            {WEBHOOK_EVENT_TYPES.map((e) => (
              <label class="check">
                <input type="checkbox" name="events" value={e} checked={chosen.has(e)} /> {e}
              </label>
            ))}
            {errOf(form, 'events') && <span class="ferr">{errOf(form, 'events')}</span>}
          </fieldset>
          <Field id="w-description" label="Description (optional)" error={errOf(form, 'description')}>
            <input id="w-description" name="description" maxlength={500} value={values.description ?? ''} {...described('w-description', false, errOf(form, 'description'))} />
          </Field>
          <div>
            <button type="submit">Create webhook</button>
          </div>
        </form>
      </section>
    </Layout>
  );
};

export const WebhookPage: FC<{ session: ConsoleSession; now: number; webhook: Webhook; sites: Site[]; deliveries: Page<WebhookDelivery>; first: boolean; ok?: string }> = ({
  session,
  now,
  webhook: w,
  sites,
  deliveries,
  first,
  ok,
}) => (
  <Layout title="Webhook" session={session} nav="webhooks">
    <h1>Webhook {w.description || new URL(w.url).host}</h1>
    <Done ok={ok} />
    <dl class="facts">
      <dt>URL</dt>
      <dd class="mono">{w.url}</dd>
      <dt>Events of</dt>
      <dd>{siteName(sites, w.siteId)}</dd>
      <dt>Events</dt>
      <dd>{w.events.join(', ')}</dd>
      <dt>Id</dt>
      <dd class="mono">{w.id}</dd>
    </dl>
    <div class="row">
      <form method="post" action={`/console/webhooks/${w.id}/test`} class="inline">
        <Csrf session={session} />
        <button type="submit">Send test event</button>
      </form>
      <form method="post" action={`/console/webhooks/${w.id}/delete`} class="inline">
        <Csrf session={session} />
        <button type="submit" class="danger" data-confirm="Delete this webhook and its delivery log?">
          Delete webhook
        </button>
      </form>
    </div>
    <section aria-labelledby="h-deliveries">
      <h2 id="h-deliveries">Delivery log</h2>
      {deliveries.items.length === 0 ? (
        <p class="muted">No deliveries yet: send a test event to check the receiver.</p>
      ) : (
        <Table>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">State</th>
              <th scope="col">Occurred</th>
              <th scope="col" class="num">
                Attempts
              </th>
              <th scope="col">Last answer</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.items.map((d) => {
              const last = d.attemptLog[d.attemptLog.length - 1];
              return (
                <tr>
                  <td>{d.eventType}</td>
                  <td>
                    <Badge value={deliveryBadge(d.state)} label={d.state} />
                    {d.nextAttemptAt && (
                      <span class="hint">
                        {' '}
                        next try <time datetime={d.nextAttemptAt}>{d.nextAttemptAt.slice(11, 19)} UTC</time>
                      </span>
                    )}
                  </td>
                  <td>
                    <Time at={d.occurredAt} now={now} />
                  </td>
                  <td class="num">{d.attempts}</td>
                  <td>
                    {last ? `${last.status === null ? 'no answer' : `HTTP ${last.status}`}${last.error ? `: ${last.error}` : ''} (${duration(last.durationMs)})` : <span class="muted">—</span>}
                  </td>
                  <td>
                    {(d.state === 'failed' || d.state === 'pending') && (
                      <form method="post" action={`/console/webhooks/${w.id}/deliveries/${d.id}/retry`} class="inline">
                        <Csrf session={session} />
                        <button type="submit" class="secondary">
                          Retry now
                        </button>
                      </form>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
      <Pager next={deliveries.nextCursor} base={`/console/webhooks/${w.id}`} first={first} />
    </section>
  </Layout>
);

export function webhookRoutes(r: ConsoleRouter, k: Kit) {
  async function webhooksPage(c: C, extra: { form?: FormState; created?: Webhook & { secret: string } } = {}, status = 200) {
    const a = k.api(c);
    const [webhooks, sites] = await Promise.all([a.get<Page<Webhook>>(`/v1/webhooks?limit=100${k.cursorQuery(c)}`), a.get<Page<Site>>('/v1/sites?limit=500')]);
    return html(c, <WebhooksPage session={k.session(c)} now={k.now(c)} webhooks={webhooks} sites={sites.items} first={k.first(c)} ok={k.ok(c)} {...extra} />, status);
  }

  r.get('/webhooks', (c) => webhooksPage(c));

  /** Answered with the page itself: the signing secret is shown once and never put in a URL. */
  r.post('/webhooks', async (c) => {
    const f = formOf(c);
    const parsed = forms.webhookCreate(f);
    if (!parsed.ok) return webhooksPage(c, { form: { issues: parsed.issues, values: echo(f) } }, 400);
    const res = await k.api(c).call<Webhook & { secret: string }>('POST', '/v1/webhooks', parsed.body);
    if (!res.ok) return res.status === 403 ? k.apiErrorPage(c, res) : webhooksPage(c, { form: refused(res, f) }, res.status);
    return webhooksPage(c, { created: res.data }, 201);
  });

  r.get('/webhooks/:id', async (c) => {
    const a = k.api(c);
    const id = enc(c.req.param('id'));
    const cur = c.req.query('cursor');
    const [webhook, deliveries, sites] = await Promise.all([
      a.get<Webhook>(`/v1/webhooks/${id}`),
      a.get<Page<WebhookDelivery>>(`/v1/webhooks/${id}/deliveries?limit=50${cur ? `&cursor=${enc(cur)}` : ''}`),
      a.get<Page<Site>>('/v1/sites?limit=500'),
    ]);
    return html(c, <WebhookPage session={k.session(c)} now={k.now(c)} webhook={webhook} sites={sites.items} deliveries={deliveries} first={!cur} ok={k.ok(c)} />);
  });

  r.post('/webhooks/:id/test', async (c) => {
    const id = c.req.param('id');
    const res = await k.api(c).call('POST', `/v1/webhooks/${enc(id)}/test`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/webhooks/${enc(id)}?ok=test-sent`, 303);
  });

  r.post('/webhooks/:id/deliveries/:delivery/retry', async (c) => {
    const id = c.req.param('id');
    const res = await k.api(c).call('POST', `/v1/webhooks/${enc(id)}/deliveries/${enc(c.req.param('delivery'))}/retry`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/webhooks/${enc(id)}?ok=retry-queued`, 303);
  });

  r.post('/webhooks/:id/delete', async (c) => {
    const res = await k.api(c).call('DELETE', `/v1/webhooks/${enc(c.req.param('id'))}`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect('/console/webhooks?ok=deleted', 303);
  });
}
