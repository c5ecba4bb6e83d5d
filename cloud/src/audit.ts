import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { sql, type SqlStatement } from './ports/sql-database.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Mutations that cannot change what a relay's snapshot holds (boot/site-snapshot.ts reads machines,
 * assignments, their consumptions, profiles and the site's default), so they tell the sync hub
 * nothing: every other audited mutation does. Kept to the frequent and the fleet-wide ones (a token
 * or an image part names no site, which would mean 'all': every cached site computed again).
 */
const SNAPSHOT_BLIND =
  /^\/v1\/(tokens|webhooks|signing-keys|relay-releases|images|relays)(\/|$)|^\/v1\/sites\/[^/]+\/enrollment-codes$|^\/v1\/machines\/[^/]+\/(bmc|power)$|^\/v1\/callback\/(started|progress)$/;

/**
 * The sites a request's audited changes touched ('all' when one names no site), kept beside the
 * request's context until the response is known: the relays are told after the change committed,
 * and only when the request succeeded.
 */
const changedSites = new WeakMap<Context<AppEnv>, Set<string> | 'all'>();

/**
 * Adds sites this request changed beyond the one its audit row names (a machine moved between sites,
 * a machine of no site that every site's snapshot lists). Told to the relays as auditOk's are.
 */
export function noteSiteChange(c: Context<AppEnv>, scope: readonly (string | null)[] | 'all'): void {
  let seen = changedSites.get(c);
  if (seen === 'all') return;
  if (scope === 'all' || scope.includes(null)) {
    changedSites.set(c, 'all');
    return;
  }
  if (!seen) changedSites.set(c, (seen = new Set()));
  for (const id of scope) seen.add(id!);
}

/** After a successful request: its changes have committed, tell the sync hub (never throws). */
async function tellSiteChanges(c: Context<AppEnv>): Promise<void> {
  const scope = changedSites.get(c);
  const siteChanges = c.get('deps').siteChanges;
  if (scope === undefined || !siteChanges || c.res.status >= 400 || SNAPSHOT_BLIND.test(c.req.path)) return;
  await siteChanges.changed(scope === 'all' ? 'all' : [...scope]);
}

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
 * so the change and its record commit together or not at all. Once the request has succeeded, the
 * relays of `siteId` (null: of every site) hear of it (auditRest, below).
 */
export function auditOk(c: Context<AppEnv>, target: string, siteId: string | null, status = 200, actor?: string): SqlStatement {
  c.set('audited', true);
  noteSiteChange(c, [siteId]);
  return insert(c, target, siteId, 'ok', status, actor);
}

/**
 * Records mutating calls that did not write their own row: refused ones (401/403/404/409…) and
 * failures. Relay telemetry (`/v1/relay/*`: heartbeats, event batches) is not audited; it is
 * machine traffic, recorded where it lands (last seen, timelines). Then tells the sync hub which
 * sites the request's audited changes touched.
 */
export function auditRest(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('audited', false);
    await next();
    await tellSiteChanges(c);
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
