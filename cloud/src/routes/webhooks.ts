import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { Cursor, ErrorEnvelope, Limit, page } from '../../../shared/schemas/common.ts';
import {
  DELIVERY_STATES,
  TEST_EVENT_TYPE,
  WEBHOOK_EVENT_TYPES,
  Webhook,
  WebhookCreate,
  WebhookCreated,
  WebhookDelivery,
  WebhookDeliveryPage,
} from '../../../shared/schemas/webhook.ts';
import { auditOk } from '../audit.ts';
import { assertRead, assertRole, assertWrite, siteScope, type Principal } from '../auth/principal.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import type { WebhookDispatch } from '../ports/webhook-dispatch.ts';
import { iso } from '../time.ts';
import { newWebhookSecret } from '../webhooks/signature.ts';
import { checkWebhookUrl, STRICT_POLICY } from '../webhooks/url-policy.ts';
import { body, errorResponses, IdParams, json, keysetPage, router } from './openapi.ts';

/**
 * Webhooks (issue 17): subscriptions per site or fleet-wide, their delivery log, and a test event.
 * Events are recorded by triggers (migration 0009) and delivered by webhooks/engine.ts; these
 * routes only manage subscriptions and read the log. Admins manage every webhook; a site's
 * operators manage that site's; fleet-wide ones are admin-only.
 */

interface WebhookRow {
  id: string;
  site_id: string | null;
  url: string;
  events: string;
  description: string;
  secret: string;
  created_at: number;
  created_by: string | null;
  n_pending: number;
  n_succeeded: number;
  n_failed: number;
  last: string | null;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  site_id: string | null;
  data: string;
  occurred_at: number;
  state: (typeof DELIVERY_STATES)[number];
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  finished_at: number | null;
  attempt_log: string;
}

const SELECT_WEBHOOK = `SELECT w.*,
  (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state IN ('pending', 'delivering')) AS n_pending,
  (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'succeeded') AS n_succeeded,
  (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed') AS n_failed,
  (SELECT json_object('id', d.id, 'state', d.state, 'eventType', d.event_type, 'at', d.occurred_at, 'status', d.last_status, 'error', d.last_error)
     FROM webhook_deliveries d WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) AS last
  FROM webhooks w`;

const SELECT_DELIVERY = `SELECT d.*,
  (SELECT json_group_array(json_object('attempt', a.attempt, 'at', a.at, 'status', a.status, 'error', a.error, 'durationMs', a.duration_ms, 'response', a.response))
     FROM (SELECT * FROM webhook_attempts WHERE delivery_id = d.id ORDER BY attempt) a) AS attempt_log
  FROM webhook_deliveries d`;

function toWebhook(r: WebhookRow): Webhook {
  const last = r.last === null ? null : (JSON.parse(r.last) as { id: string; state: string; eventType: string; at: number; status: number | null; error: string | null });
  return {
    id: r.id,
    url: r.url,
    siteId: r.site_id,
    events: JSON.parse(r.events) as Webhook['events'],
    description: r.description,
    createdAt: iso(r.created_at),
    deliveries: { pending: r.n_pending, succeeded: r.n_succeeded, failed: r.n_failed },
    lastDelivery: last && { ...last, at: iso(last.at) },
  };
}

function toDelivery(r: DeliveryRow): WebhookDelivery {
  const log = JSON.parse(r.attempt_log ?? '[]') as { attempt: number; at: number; status: number | null; error: string | null; durationMs: number; response: string | null }[];
  return {
    id: r.id,
    webhookId: r.webhook_id,
    eventId: r.event_id,
    eventType: r.event_type,
    siteId: r.site_id,
    occurredAt: iso(r.occurred_at),
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.state === 'pending' ? iso(r.next_attempt_at) : null,
    lastStatus: r.last_status,
    lastError: r.last_error,
    finishedAt: iso(r.finished_at),
    data: JSON.parse(r.data) as Record<string, unknown>,
    attemptLog: log.map((a) => ({ ...a, at: iso(a.at) })),
  };
}

/** People who manage integrations: admins and operators (a viewer's token must not read receivers' URLs). */
function manager(p: Principal): Principal {
  assertRole(p, 'admin', 'operator');
  return p;
}

async function webhookFor(db: SqlDatabase, p: Principal, id: string, write: boolean): Promise<WebhookRow> {
  const row = await db.first<WebhookRow>(sql(`${SELECT_WEBHOOK} WHERE w.id = ?`, id));
  if (!row) throw notFound('webhook');
  if (write) assertWrite(p, row.site_id, 'webhook');
  else assertRead(p, row.site_id, 'webhook');
  return row;
}

const DeliveryCursor = z.string().max(64).regex(/^whd_[0-9a-f]{29}$/, 'not a cursor');
const tags = ['webhooks'];

export function webhookRoutes(dispatch: WebhookDispatch | undefined) {
  const policy = dispatch?.policy ?? STRICT_POLICY;
  return router()
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: "Subscribe a receiver to events of a site, or of the whole fleet (siteId null: admin); the answer holds the signing secret, shown only here",
        request: { body: body(WebhookCreate) },
        responses: { 201: json(WebhookCreated, 'created'), ...errorResponses },
      }),
      async (c) => {
        const input = c.req.valid('json');
        const p = manager(c.get('principal')!);
        const { db, clock } = c.get('deps');
        const siteId = input.siteId ?? null;
        if (siteId === null) assertRole(p, 'admin');
        else {
          assertWrite(p, siteId, 'site');
          if (!(await db.first(sql('SELECT 1 AS x FROM sites WHERE id = ?', siteId)))) throw notFound('site');
        }
        const checked = checkWebhookUrl(input.url, policy);
        if (!checked.ok) throw new AppError('validation_failed', `invalid request body: url: ${checked.reason}`, { issues: [{ path: 'url', message: checked.reason }] });
        const now = clock.now();
        const id = `whk_${newId('event', now).slice('evt_'.length)}`;
        const secret = newWebhookSecret();
        const events = input.events ?? [...WEBHOOK_EVENT_TYPES];
        await db.batch([
          sql(
            'INSERT INTO webhooks (id, site_id, url, events, description, secret, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            id,
            siteId,
            checked.verdict.url.href,
            JSON.stringify(events),
            input.description ?? '',
            secret,
            now,
            p.tokenId,
          ),
          auditOk(c, id, siteId, 201),
        ]);
        const row = (await db.first<WebhookRow>(sql(`${SELECT_WEBHOOK} WHERE w.id = ?`, id)))!;
        return c.json({ ...toWebhook(row), secret }, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List the webhooks the token can see, with delivery counts (admin, or operators: their sites\')',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional(), siteId: z.string().min(1).max(64).optional() }) },
        responses: { 200: json(page(Webhook, 'WebhookPage')), ...errorResponses },
      }),
      async (c) => {
        const { limit, cursor, siteId } = c.req.valid('query');
        const scope = siteScope(manager(c.get('principal')!), 'w.site_id');
        const bySite = siteId === undefined ? '' : ' AND w.site_id = ?';
        const rows = await c.get('deps').db.all<WebhookRow>(
          sql(`${SELECT_WEBHOOK} WHERE ${scope.clause}${bySite} AND w.id > ? ORDER BY w.id LIMIT ?`, ...scope.params, ...(siteId === undefined ? [] : [siteId]), cursor ?? '', limit + 1),
        );
        return c.json(keysetPage(rows, limit, toWebhook), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One webhook (its secret is never shown again)',
        request: { params: IdParams },
        responses: { 200: json(Webhook), ...errorResponses },
      }),
      async (c) => c.json(toWebhook(await webhookFor(c.get('deps').db, manager(c.get('principal')!), c.req.valid('param').id, false)), 200),
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Delete a webhook and its delivery log; deliveries not yet made are dropped',
        request: { params: IdParams },
        responses: { 204: { description: 'deleted' }, ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const row = await webhookFor(db, manager(c.get('principal')!), c.req.valid('param').id, true);
        await db.batch([sql('DELETE FROM webhooks WHERE id = ?', row.id), auditOk(c, row.id, row.site_id, 204)]);
        return c.body(null, 204);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/deliveries',
        tags,
        summary: "The webhook's delivery log, newest first: each event, its state and every attempt (status, error, time, the start of the answer)",
        request: {
          params: IdParams,
          query: z.strictObject({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: DeliveryCursor.optional(), state: z.enum(DELIVERY_STATES).optional() }),
        },
        responses: { 200: json(WebhookDeliveryPage), ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const row = await webhookFor(db, manager(c.get('principal')!), c.req.valid('param').id, false);
        const { limit, cursor, state } = c.req.valid('query');
        const rows = await db.all<DeliveryRow>(
          sql(
            `${SELECT_DELIVERY} WHERE d.webhook_id = ?${state ? ' AND d.state = ?' : ''} AND d.id < ? ORDER BY d.id DESC LIMIT ?`,
            row.id,
            ...(state ? [state] : []),
            cursor ?? 'whd_~',
            limit + 1,
          ),
        );
        return c.json(keysetPage(rows, limit, toDelivery), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/{id}/test',
        tags,
        summary: `Send a ${TEST_EVENT_TYPE} event to this webhook now (delivered, retried and logged as any other)`,
        request: { params: IdParams },
        responses: { 202: json(WebhookDelivery, 'queued'), ...errorResponses },
      }),
      async (c) => {
        const { db, clock } = c.get('deps');
        const p = manager(c.get('principal')!);
        const row = await webhookFor(db, p, c.req.valid('param').id, true);
        const now = clock.now();
        const random = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
        const id = `whd_${String(now).padStart(13, '0')}${random}`;
        await db.batch([
          sql(
            `INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            id,
            row.id,
            `test:${id.slice(4)}`,
            TEST_EVENT_TYPE,
            row.site_id,
            JSON.stringify({ webhookId: row.id, message: 'a test event from edgeboot', requestedBy: p.tokenId }),
            now,
            now,
          ),
          auditOk(c, row.id, row.site_id, 202),
        ]);
        const d = (await db.first<DeliveryRow>(sql(`${SELECT_DELIVERY} WHERE d.id = ?`, id)))!;
        return c.json(toDelivery(d), 202);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/{id}/deliveries/{deliveryId}/retry',
        tags,
        summary: 'Try a failed or waiting delivery again now (one more attempt for a failed one; the log keeps every attempt)',
        request: { params: IdParams.extend({ deliveryId: z.string().min(1).max(64) }) },
        responses: { 202: json(WebhookDelivery, 'queued'), 409: json(ErrorEnvelope, 'delivered already, or being delivered now'), ...errorResponses },
      }),
      async (c) => {
        const { db, clock } = c.get('deps');
        const { id, deliveryId } = c.req.valid('param');
        const row = await webhookFor(db, manager(c.get('principal')!), id, true);
        const before = await db.first<{ state: string }>(sql('SELECT state FROM webhook_deliveries WHERE id = ? AND webhook_id = ?', deliveryId, row.id));
        if (!before) throw notFound('delivery');
        if (before.state !== 'pending' && before.state !== 'failed') throw new AppError('conflict', `delivery ${deliveryId} is ${before.state}: nothing to retry`);
        await db.batch([
          sql(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?, finished_at = NULL WHERE id = ? AND state IN ('pending', 'failed')",
            clock.now(),
            deliveryId,
          ),
          auditOk(c, deliveryId, row.site_id, 202),
        ]);
        const d = await db.first<DeliveryRow>(sql(`${SELECT_DELIVERY} WHERE d.id = ?`, deliveryId));
        if (!d) throw notFound('delivery');
        return c.json(toDelivery(d), 202);
      },
    );
}
