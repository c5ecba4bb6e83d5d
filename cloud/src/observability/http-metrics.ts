import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Family, Sample } from './prometheus.ts';

/** One answered request, as every observer sees it. */
export interface RequestSample {
  method: string;
  /** The route's pattern (`/v1/machines/:id`), never the raw path: label values stay few. */
  route: string;
  status: number;
  durationMs: number;
}

/** Told of every answered request; must not throw and must not wait (it runs on the request's path). */
export interface RequestObserver {
  observe(sample: RequestSample): void;
}

/** Upper bounds of the duration histogram, in seconds (Prometheus' defaults, which suit an API). */
export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** The route label of a request that matched no handler (404s of unknown paths): never its path. */
export const UNMATCHED_ROUTE = 'unmatched';

interface Histogram {
  method: string;
  route: string;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * Request counts and durations in memory, rendered for /metrics. Per app instance: on Node and
 * Deno that is the process; on Workers it is one isolate of many (see routes.ts), which is why the
 * Workers entry also sends each sample to Analytics Engine or the log.
 * Recording is two map lookups and a loop over 11 bounds: no allocation once a series exists.
 */
export interface HttpMetrics extends RequestObserver {
  families(): Family[];
}

export function httpMetrics(): HttpMetrics {
  const requests = new Map<string, { method: string; route: string; status: string; n: number }>();
  const durations = new Map<string, Histogram>();
  return {
    observe({ method, route, status, durationMs }) {
      const key = `${method} ${route} ${status}`;
      const r = requests.get(key);
      if (r) r.n++;
      else requests.set(key, { method, route, status: String(status), n: 1 });
      const hkey = `${method} ${route}`;
      let h = durations.get(hkey);
      if (!h) durations.set(hkey, (h = { method, route, buckets: DURATION_BUCKETS_S.map(() => 0), sum: 0, count: 0 }));
      const s = durationMs / 1000;
      for (let i = 0; i < DURATION_BUCKETS_S.length; i++) if (s <= DURATION_BUCKETS_S[i]!) h.buckets[i]!++;
      h.sum += s;
      h.count++;
    },
    families() {
      const histogram: Sample[] = [];
      for (const h of durations.values()) {
        DURATION_BUCKETS_S.forEach((le, i) => histogram.push({ suffix: '_bucket', labels: { method: h.method, route: h.route, le: String(le) }, value: h.buckets[i]! }));
        histogram.push({ suffix: '_bucket', labels: { method: h.method, route: h.route, le: '+Inf' }, value: h.count });
        histogram.push({ suffix: '_sum', labels: { method: h.method, route: h.route }, value: h.sum });
        histogram.push({ suffix: '_count', labels: { method: h.method, route: h.route }, value: h.count });
      }
      return [
        {
          name: 'edgeboot_http_requests_total',
          type: 'counter',
          help: 'HTTP requests answered by this process (on Workers: this isolate), by method, route pattern and status.',
          samples: [...requests.values()].map((r) => ({ labels: { method: r.method, route: r.route, status: r.status }, value: r.n })),
        },
        {
          name: 'edgeboot_http_request_duration_seconds',
          type: 'histogram',
          help: 'Time to the response (headers; a streamed body may run on), by method and route pattern.',
          samples: histogram,
        },
      ];
    },
  };
}

/**
 * The route pattern that answered: the last handler Hono matched that is not middleware (`use`
 * registers with method ALL). A 404 for an unknown path matched only middleware.
 */
function routeOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i]!.method !== 'ALL') return routes[i]!.path;
  return UNMATCHED_ROUTE;
}

/**
 * Tells the observers of an answered request, given when it began. Called by the app's first
 * middleware after `next()` (so it times the whole request, errors included: onError has run by
 * then) rather than mounted as a middleware of its own: on Hono one more async layer costs more
 * than the counting (measured on a small app: the counting within an existing layer +0.5 µs a
 * request, a layer of its own several µs).
 */
export function requestRecorder(observers: readonly RequestObserver[]): (c: Context, startMs: number) => void {
  return (c, startMs) => {
    const sample: RequestSample = { method: c.req.method, route: routeOf(c), status: c.res.status, durationMs: performance.now() - startMs };
    for (const o of observers) o.observe(sample);
  };
}

/** What an entry may add: observers beyond the in-memory counters /metrics shows (entry/workers.ts). */
export interface ObservabilityDeps {
  requestObservers?: readonly RequestObserver[];
}
