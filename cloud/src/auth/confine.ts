import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';

const RELAY_PATHS = /^\/v1\/relay\//;

/**
 * Relay credentials sit on on-prem boxes, so they are kept to the relay endpoints whatever a route
 * would otherwise allow; people's tokens stay off those endpoints. One check here rather than one
 * per route, so a new route cannot forget it.
 */
export function confineRelayTokens(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    const relayPath = RELAY_PATHS.test(c.req.path);
    if (p?.role === 'relay' && !relayPath) throw new AppError('forbidden', 'a relay token may only call /v1/relay/ endpoints');
    if (p && p.role !== 'relay' && relayPath) throw new AppError('forbidden', '/v1/relay/ endpoints need a relay token');
    await next();
  };
}
