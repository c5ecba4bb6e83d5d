import { Hono } from 'hono';
import { authenticate, requireAuth } from '../auth/authenticate.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { fleetGauges } from './fleet-gauges.ts';
import type { HttpMetrics } from './http-metrics.ts';
import { dbRoundTripFamily, type DbRoundTrips } from './db-queries.ts';
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from './prometheus.ts';

/** No path is public under /metrics: requireAuth refuses every anonymous caller. */
const NO_PUBLIC_PATHS = /^(?!)/;

/**
 * `GET /healthz` and `GET /metrics`: plain routes for load balancers and Prometheus, outside /v1
 * and the OpenAPI document (like the console), so they carry none of the API's middleware.
 *
 * /healthz is for anyone (a load balancer has no token) and says nothing but whether this
 * instance answers and its database does: 200 `{"status":"ok"}` or 503 `{"status":"unavailable"}`.
 *
 * /metrics needs an admin token or a fleet-wide viewer token (a scraper needs to read, not to
 * change: give it a viewer token with no sites). A token limited to sites is refused: the
 * counts span every site. What the numbers mean per runtime: the fleet gauges come from the
 * database and are the same whoever answers; the request counters and durations are this
 * process's on Node and Deno, but only this isolate's on Workers, where each isolate keeps its
 * own memory and is evicted at will (a scrape lands on one of many, and its counters restart
 * from zero). On Workers, read request rates from Analytics Engine (the `METRICS` binding) or
 * the per-minute log lines instead (entry/workers.ts).
 */
export function observabilityRoutes(metrics: HttpMetrics, roundTrips: DbRoundTrips): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/healthz', async (c) => {
    c.header('cache-control', 'no-store');
    try {
      await c.get('deps').db.first(sql('SELECT 1 AS ok'));
    } catch (err) {
      console.error(JSON.stringify({ level: 'error', requestId: c.get('requestId'), msg: 'healthz: database unavailable', error: String(err) }));
      return c.json({ status: 'unavailable' }, 503);
    }
    return c.json({ status: 'ok' }, 200);
  });

  app.get('/metrics', authenticate(), requireAuth(NO_PUBLIC_PATHS), async (c) => {
    const p = c.get('principal')!;
    const fleetWideViewer = p.role === 'viewer' && p.siteIds === null;
    if (p.role !== 'admin' && !fleetWideViewer) throw new AppError('forbidden', 'metrics need an admin token or a viewer token for every site');
    const deps = c.get('deps');
    const families = [...(await fleetGauges(deps.db, deps.clock.now())), ...metrics.families(), dbRoundTripFamily(roundTrips)];
    return c.body(renderFamilies(families), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
  });

  return app;
}
