import { describe, expect, it } from 'vitest';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import { fleetGauges } from '../../cloud/src/observability/fleet-gauges.ts';
import { httpMetrics } from '../../cloud/src/observability/http-metrics.ts';
import type { SqlDatabase, SqlStatement } from '../../cloud/src/ports/sql-database.ts';
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

describe('fleet gauges', () => {
  it('read the tables that grow with use (events, boots, jobs, deliveries) only through an index, one query a family', async () => {
    const sqlite = openSqlite(':memory:');
    migrateSqlite(sqlite.raw);
    const seen: SqlStatement[] = [];
    // The real SQLite database, with every statement noted on its way.
    const noting: SqlDatabase = {
      all: (st) => (seen.push(st), sqlite.all(st)),
      first: (st) => (seen.push(st), sqlite.first(st)),
      batch: (sts) => (seen.push(...sts), sqlite.batch(sts)),
    };
    const families = await fleetGauges(noting, Date.UTC(2026, 11, 7, 5, 0, 0));
    expect(seen).toHaveLength(5);
    expect(families.map((f) => f.name)).toEqual([
      'edgeboot_relays',
      'edgeboot_relay_last_seen_age_seconds',
      'edgeboot_boot_answers_last_minute',
      'edgeboot_boots_failed_last_minute',
      'edgeboot_power_jobs',
      'edgeboot_webhook_deliveries',
    ]);
    for (const st of seen) {
      const plan = sqlite.raw
        .prepare(`EXPLAIN QUERY PLAN ${st.sql}`)
        .all(...st.params)
        .map((r) => String(r.detail))
        .join(' | ');
      expect(plan, st.sql).not.toMatch(/SCAN (boot_events|boots|power_jobs|webhook_deliveries|j)\b/);
    }
  });
});
