import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { sql, type SqlStatement } from './ports/sql-database.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** One audit_log row (the API's rows below and the console's sign-in records share this shape). */
export function auditStatement(e: { at: number; actor: string; action: string; target: string | null; siteId: string | null; result: string; status: number; requestId: string }): SqlStatement {
  return sql(
    'INSERT INTO audit_log (at, actor, action, target, site_id, result, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    e.at,
    e.actor,
    e.action.slice(0, 512),
    e.target,
    e.siteId,
    e.result,
    e.status,
    e.requestId,
  );
}

function insert(c: Context<AppEnv>, target: string | null, siteId: string | null, result: string, status: number, actor?: string): SqlStatement {
  return auditStatement({
    at: c.get('deps').clock.now(),
    actor: actor ?? c.get('principal')?.tokenId ?? 'anonymous',
    action: `${c.req.method} ${c.req.path}`,
    target,
    siteId,
    result,
    status,
    requestId: c.get('requestId'),
  });
}

/**
 * The audit row of a successful mutation. Handlers put it in the same `db.batch()` as the change,
 * so the change and its record commit together or not at all.
 */
export function auditOk(c: Context<AppEnv>, target: string, siteId: string | null, status = 200, actor?: string): SqlStatement {
  c.set('audited', true);
  return insert(c, target, siteId, 'ok', status, actor);
}

/**
 * Records mutating calls that did not write their own row: refused ones (401/403/404/409…) and
 * failures. Relay telemetry (`/v1/relay/*`: heartbeats, event batches) is not audited; it is
 * machine traffic, recorded where it lands (last seen, timelines).
 */
export function auditRest(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('audited', false);
    await next();
    if (!MUTATING.has(c.req.method) || c.get('audited') || c.req.path.startsWith('/v1/relay/')) return;
    const status = c.res.status;
    const result = status < 400 ? 'ok' : (c.get('errorCode') ?? `http_${status}`);
    try {
      await c.get('deps').db.batch([insert(c, null, null, result, status)]);
    } catch {
      // An audit write that fails must not turn a refusal into a 500; the refusal stands.
    }
  };
}
