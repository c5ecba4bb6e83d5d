import type { RequestObserver, RequestSample } from './http-metrics.ts';

/** What the observers need of a Workers Analytics Engine dataset binding (`writeDataPoint`). */
export interface AnalyticsDataset {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void;
}

/**
 * Every request as one Analytics Engine data point: blob1 method, blob2 route pattern, blob3
 * status; double1 duration in ms, double2 status. Query them with SQL over all isolates, e.g.
 * `SELECT blob2 AS route, blob3 AS status, SUM(_sample_interval) AS n FROM edgeboot_requests
 * WHERE timestamp > NOW() - INTERVAL '5' MINUTE GROUP BY route, status`. Writing is fire and forget
 * (the runtime sends it after the response); AE samples under load, which `_sample_interval` undoes.
 */
export function analyticsEngineObserver(dataset: AnalyticsDataset): RequestObserver {
  return {
    observe({ method, route, status, durationMs }) {
      dataset.writeDataPoint({ blobs: [method, route, String(status)], doubles: [durationMs, status], indexes: [route] });
    },
  };
}

/**
 * Without an Analytics Engine binding: this isolate's request counts, one JSON log line a minute at
 * most (written by the first request after the minute), so Workers Logs or a Logpush job can sum
 * them across isolates. Counts since the previous line of the same isolate; lost if it is evicted
 * before its next request.
 */
export function loggedCountsObserver(now: () => number, log: (line: string) => void = console.log, everyMs = 60_000): RequestObserver {
  let counts = new Map<string, number>();
  let since = now();
  return {
    observe(s: RequestSample) {
      const key = `${s.method} ${s.route} ${s.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const t = now();
      if (t - since < everyMs) return;
      const requests = [...counts].map(([k, n]) => {
        const [method, route, status] = k.split(' ');
        return { method, route, status: Number(status), n };
      });
      log(JSON.stringify({ level: 'info', msg: 'http request counts', since: new Date(since).toISOString(), until: new Date(t).toISOString(), requests }));
      counts = new Map();
      since = t;
    },
  };
}
