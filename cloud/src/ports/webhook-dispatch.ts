import type { WebhookUrlPolicy } from '../webhooks/url-policy.ts';

/**
 * What the routes need from webhook delivery, whatever runs it: in process on Node and Deno
 * (webhooks/in-process.ts), a Durable Object's alarm on Workers (entry/workers-webhooks.ts).
 * Deliveries themselves are rows (the outbox, migration 0009), written by triggers with the change.
 */
export interface WebhookDispatch {
  /** The operator's rules for receivers' URLs, applied when a webhook is saved. */
  readonly policy: WebhookUrlPolicy;
  /**
   * A hint that deliveries may be due now (a request changed something): deliver soon. Returns at
   * once; `waitUntil` keeps the hint's own I/O alive after the response where the runtime needs it.
   */
  kick(waitUntil?: (work: Promise<unknown>) => void): void;
}

/** createApp's optional webhook dependency (absent: strict policy, deliveries wait for a runner). */
export interface WebhookDeps {
  webhooks?: WebhookDispatch;
}
