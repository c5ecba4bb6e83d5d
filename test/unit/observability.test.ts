import { describe, expect, it } from 'vitest';
import { httpMetrics } from '../../cloud/src/observability/http-metrics.ts';
import { renderFamilies } from '../../cloud/src/observability/prometheus.ts';
import { analyticsEngineObserver, loggedCountsObserver, type AnalyticsDataset } from '../../cloud/src/observability/workers-observers.ts';

describe('Prometheus text', () => {
  it('escapes backslashes, quotes and line feeds in label values', () => {
    const text = renderFamilies([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { site: 'a"b\\c\nd' }, value: 1 }] }]);
    expect(text).toBe('# HELP x h\n# TYPE x gauge\nx{site="a\\"b\\\\c\\nd"} 1\n');
  });
});

describe('request histogram', () => {
  it('puts a duration in every bucket at or above it, and +Inf equal to the count', () => {
    const m = httpMetrics();
    m.observe({ method: 'GET', route: '/v1/sites', status: 200, durationMs: 30 });
    m.observe({ method: 'GET', route: '/v1/sites', status: 500, durationMs: 3000 });
    const text = renderFamilies(m.families());
    expect(text).toContain('edgeboot_http_request_duration_seconds_bucket{method="GET",route="/v1/sites",le="0.025"} 0\n');
    expect(text).toContain('edgeboot_http_request_duration_seconds_bucket{method="GET",route="/v1/sites",le="0.05"} 1\n');
    expect(text).toContain('edgeboot_http_request_duration_seconds_bucket{method="GET",route="/v1/sites",le="5"} 2\n');
    expect(text).toContain('edgeboot_http_request_duration_seconds_bucket{method="GET",route="/v1/sites",le="+Inf"} 2\n');
    expect(text).toContain('edgeboot_http_request_duration_seconds_sum{method="GET",route="/v1/sites"} 3.03\n');
    expect(text).toContain('edgeboot_http_requests_total{method="GET",route="/v1/sites",status="500"} 1\n');
  });
});

describe('Workers observers', () => {
  it('writes one Analytics Engine data point per request (dataset: a recording test double)', () => {
    const points: unknown[] = [];
    const recordingDataset: AnalyticsDataset = { writeDataPoint: (p) => void points.push(p) };
    analyticsEngineObserver(recordingDataset).observe({ method: 'POST', route: '/v1/relay/events', status: 202, durationMs: 12.5 });
    expect(points).toEqual([{ blobs: ['POST', '/v1/relay/events', '202'], doubles: [12.5, 202], indexes: ['/v1/relay/events'] }]);
  });

  it("logs an isolate's counts once the minute has passed, then starts counting afresh", () => {
    let now = Date.UTC(2026, 11, 7, 5, 0, 0);
    const lines: string[] = [];
    const o = loggedCountsObserver(() => now, (l) => lines.push(l));
    const s = { method: 'GET', route: '/v1/machines/:id', status: 200, durationMs: 1 };
    o.observe(s);
    now += 59_999;
    o.observe(s);
    expect(lines).toEqual([]);
    now += 1;
    o.observe(s);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ since: '2026-12-07T05:00:00.000Z', until: '2026-12-07T05:01:00.000Z', requests: [{ method: 'GET', route: '/v1/machines/:id', status: 200, n: 3 }] });
    now += 60_000;
    o.observe(s);
    expect(JSON.parse(lines[1]!).requests).toEqual([{ method: 'GET', route: '/v1/machines/:id', status: 200, n: 1 }]);
  });
});
