import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import type { WebhookDispatch } from '../ports/webhook-dispatch.ts';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * After a request that may have changed something (a write that did not fail), tell the dispatcher
 * that deliveries may be due: the triggers of migration 0009 record them with the change, unseen by
 * the route, so this is the one place that knows a change happened.
 */
export function kickWebhooks(dispatch: WebhookDispatch | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (!dispatch || !WRITES.has(c.req.method) || c.res.status >= 400) return;
    let waitUntil: ((p: Promise<unknown>) => void) | undefined;
    try {
      const ctx = c.executionCtx;
      waitUntil = (p) => ctx.waitUntil(p);
    } catch {
      // No execution context outside Workers: the in-process dispatcher needs none.
    }
    dispatch.kick(waitUntil);
  };
}
