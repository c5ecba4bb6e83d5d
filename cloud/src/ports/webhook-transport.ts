import type { WebhookUrlPolicy } from '../webhooks/url-policy.ts';

/**
 * How a webhook POST leaves the control plane. Adapters: node:http(s) with every resolved address
 * checked and pinned (Node, Deno: adapters/node/webhook-transport.ts), `fetch` (Workers:
 * webhooks/fetch-transport.ts). Either way the request is bounded in time and in what is read back,
 * so a slow or chatty receiver costs one slot for at most `timeoutMs`.
 */
export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The whole exchange: connect, send, status and the bounded read of the answer. */
  timeoutMs: number;
  /** Bytes of the answer kept for the log; the rest is not read. */
  maxResponseBytes: number;
  policy: WebhookUrlPolicy;
}

export type WebhookPostResult =
  | { ok: true; status: number; response: string }
  /** No HTTP status: refused by policy, timed out, connection error. */
  | { ok: false; error: string };

export interface WebhookTransport {
  /** POSTs once, never follows redirects, never throws. */
  post(request: WebhookPost): Promise<WebhookPostResult>;
}
