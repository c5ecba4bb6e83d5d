import { z } from 'zod';
import { Description, Timestamp } from './common.ts';

/**
 * Webhooks (issue 17): what other systems can subscribe to, and what they receive.
 * The POST a receiver gets follows Standard Webhooks (standardwebhooks.com): headers `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
 * `${id}.${timestamp}.${body}` keyed by the secret's base64 bytes after `whsec_`).
 */
export const WEBHOOK_EVENT_TYPES = [
  'machine.discovered',
  'machine.deployed',
  'machine.failed',
  'relay.online',
  'relay.offline',
  'power_job.succeeded',
  'power_job.failed',
  'power_job.expired',
] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

/** Sent only by `POST /v1/webhooks/{id}/test`, whatever the webhook subscribes to. */
export const TEST_EVENT_TYPE = 'webhook.test';

/** Longest URL accepted; receivers' URLs are short, and the log repeats them. */
export const MAX_WEBHOOK_URL = 2048;

/**
 * The syntax of a receiver's URL. Which hosts are reachable (no loopback, private or link-local
 * address, https only) is the operator's policy, checked by the cloud when saving and delivering.
 */
export const WebhookUrl = z
  .string()
  .max(MAX_WEBHOOK_URL)
  .refine((s) => URL.canParse(s), 'not a URL')
  .refine((s) => !URL.canParse(s) || /^https?:$/.test(new URL(s).protocol), 'must be an https:// URL')
  .refine((s) => !URL.canParse(s) || (new URL(s).username === '' && new URL(s).password === ''), 'no user:password@ in the URL: authenticate the signature instead')
  .refine((s) => !URL.canParse(s) || new URL(s).hash === '', 'no #fragment')
  .meta({ description: 'https:// URL the events are POSTed to' });

export const WebhookCreate = z
  .strictObject({
    url: WebhookUrl,
    /** Omitted or null: fleet-wide (admin only). */
    siteId: z.string().min(1).max(64).nullable().optional(),
    events: z
      .array(WebhookEventType)
      .min(1)
      .max(WEBHOOK_EVENT_TYPES.length)
      .refine((a) => new Set(a).size === a.length, 'an event type is listed twice')
      .optional()
      .meta({ description: 'event types to deliver; omitted = all' }),
    description: Description.optional(),
  })
  .meta({ id: 'WebhookCreate' });
export type WebhookCreate = z.infer<typeof WebhookCreate>;

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    siteId: z.string().nullable().meta({ description: 'null = fleet-wide' }),
    events: z.array(WebhookEventType),
    description: z.string(),
    createdAt: Timestamp,
    /** Counts of its deliveries by state, for a list page. */
    deliveries: z.object({ pending: z.number().int(), succeeded: z.number().int(), failed: z.number().int() }),
    lastDelivery: z
      .object({ id: z.string(), state: z.string(), eventType: z.string(), at: Timestamp, status: z.number().int().nullable(), error: z.string().nullable() })
      .nullable(),
  })
  .meta({ id: 'Webhook' });
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreated = Webhook.extend({
  secret: z.string().meta({ description: 'whsec_…: the signing secret, shown only in this answer' }),
}).meta({ id: 'WebhookCreated' });

export const WebhookAttempt = z
  .object({
    attempt: z.number().int(),
    at: Timestamp,
    status: z.number().int().nullable().meta({ description: "the receiver's HTTP status; null when none came" }),
    error: z.string().nullable(),
    durationMs: z.number().int(),
    response: z.string().nullable().meta({ description: "the first bytes of the receiver's answer" }),
  })
  .meta({ id: 'WebhookAttempt' });

export const DELIVERY_STATES = ['pending', 'delivering', 'succeeded', 'failed'] as const;

export const WebhookDelivery = z
  .object({
    id: z.string(),
    webhookId: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    siteId: z.string().nullable(),
    occurredAt: Timestamp,
    state: z.enum(DELIVERY_STATES),
    attempts: z.number().int(),
    nextAttemptAt: Timestamp.nullable(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    finishedAt: Timestamp.nullable(),
    data: z.record(z.string(), z.unknown()),
    attemptLog: z.array(WebhookAttempt),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveryPage = z
  .object({ items: z.array(WebhookDelivery), nextCursor: z.string().nullable() })
  .meta({ id: 'WebhookDeliveryPage' });

/** The JSON body of every POST to a receiver. */
export const WebhookEvent = z
  .object({
    id: z.string().meta({ description: 'the event; the same in the webhook-id header and on every retry' }),
    type: z.string(),
    occurredAt: Timestamp,
    siteId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'WebhookEvent' });
export type WebhookEvent = z.infer<typeof WebhookEvent>;
