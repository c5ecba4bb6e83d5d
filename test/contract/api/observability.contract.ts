/**
 * GET /healthz and GET /metrics on every column (in-process, Node, Deno, workerd). Fleet gauges come
 * from the database, so each case makes its own site and reads that site's series; request counters
 * are the answering instance's (in workerd: the test isolate's), so a case counts a request it just
 * made. Who may scrape is in authz/observability-rows.ts.
 */
import { describe, expect, it } from 'vitest';
import { renderedBoot } from '../boot-fixtures.ts';
import { createSite, enrollRelay, garbageToken } from '../fixtures.ts';
import { bmcMachine } from '../power-fixtures.ts';
import { call, type ApiTarget } from '../target.ts';

/** `name{labels}` → value, for the samples of a Prometheus text exposition. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(t: ApiTarget): Promise<{ text: string; values: Map<string, number> }> {
  const r = await call(t, 'GET', '/metrics');
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  return { text: r.text, values: samples(r.text) };
}

export function observabilityContract(target: () => ApiTarget): void {
  describe('health and metrics', () => {
    it('answers /healthz without a token, with nothing but its status', async () => {
      const r = await call(target(), 'GET', '/healthz', { token: null });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok' });
      expect(r.headers.get('cache-control')).toBe('no-store');
    });

    it('answers /healthz whatever Authorization header comes with it', async () => {
      const r = await call(target(), 'GET', '/healthz', { token: garbageToken() });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok' });
    });

    it('serves /metrics in the Prometheus text format with a HELP and TYPE line per family', async () => {
      const t = target();
      const r = await call(t, 'GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      for (const [name, type] of [
        ['edgeboot_relays', 'gauge'],
        ['edgeboot_relay_last_seen_age_seconds', 'gauge'],
        ['edgeboot_boot_answers_last_minute', 'gauge'],
        ['edgeboot_boots_failed_last_minute', 'gauge'],
        ['edgeboot_power_jobs', 'gauge'],
        ['edgeboot_webhook_deliveries', 'gauge'],
        ['edgeboot_http_requests_total', 'counter'],
        ['edgeboot_http_request_duration_seconds', 'histogram'],
        ['edgeboot_db_round_trips_total', 'counter'],
      ]) {
        expect(r.text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
        expect(r.text).toContain(`\n# TYPE ${name} ${type}\n`);
      }
      // Every sample line is `name{labels} number`.
      for (const line of r.text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? (-?[\d.e+-]+|\+Inf|NaN)$/);
    });

    it("counts a site's relays as never heard, then online after a heartbeat, with the relay's age", async () => {
      const t = target();
      const site = await createSite(t);
      const quiet = await enrollRelay(t, site);
      const beating = await enrollRelay(t, site);
      expect((await call(t, 'POST', '/v1/relay/heartbeat', { token: beating.token, json: {} })).status).toBe(200);
      const { values } = await scrape(t);
      expect(values.get(`edgeboot_relays{site="${site}",state="online"}`)).toBe(1);
      expect(values.get(`edgeboot_relays{site="${site}",state="never"}`)).toBe(1);
      expect(values.get(`edgeboot_relays{site="${site}",state="stale"}`)).toBe(0);
      const age = values.get(`edgeboot_relay_last_seen_age_seconds{site="${site}",relay="${beating.relayId}"}`);
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(180);
      expect([...values.keys()].some((k) => k.includes(quiet.relayId))).toBe(false);
    });

    it("counts a site's queued power jobs", async () => {
      const t = target();
      const site = await createSite(t);
      const m = await bmcMachine(t, site);
      for (const action of ['on', 'off']) expect((await call(t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action } })).status).toBe(202);
      const { values } = await scrape(t);
      expect(values.get(`edgeboot_power_jobs{site="${site}",state="queued"}`)).toBe(2);
      expect(values.get(`edgeboot_power_jobs{site="${site}",state="running"}`)).toBe(0);
    });

    it('counts a boot script answered in the last minute by its outcome', async () => {
      const t = target();
      await renderedBoot(t, await createSite(t));
      // Other cases' answers may be in the minute too (or leave it meanwhile): this one is in it.
      expect((await scrape(t)).values.get('edgeboot_boot_answers_last_minute{outcome="boot"}')).toBeGreaterThanOrEqual(1);
    });

    it('shows every webhook delivery state, zero or not', async () => {
      const { values } = await scrape(target());
      for (const state of ['pending', 'delivering', 'failed']) expect(values.get(`edgeboot_webhook_deliveries{state="${state}"}`)).toBeGreaterThanOrEqual(0);
    });

    it('counts requests by route pattern and status, and times them', async () => {
      const t = target();
      const site = await createSite(t);
      const key = 'edgeboot_http_requests_total{method="GET",route="/v1/sites/:id",status="200"}';
      const before = (await scrape(t)).values.get(key) ?? 0;
      expect((await call(t, 'GET', `/v1/sites/${site}`)).status).toBe(200);
      const { values, text } = await scrape(t);
      expect(values.get(key)).toBe(before + 1);
      // The pattern, never the id: one series per route, however many sites.
      expect(text).not.toContain(`/v1/sites/${site}`);
      const count = values.get('edgeboot_http_request_duration_seconds_count{method="GET",route="/v1/sites/:id"}');
      expect(count).toBeGreaterThanOrEqual(before + 1);
      expect(values.get('edgeboot_http_request_duration_seconds_bucket{method="GET",route="/v1/sites/:id",le="+Inf"}')).toBe(count);
    });

    it('counts database round trips, a batch of statements as one', async () => {
      const t = target();
      const site = await createSite(t);
      const sum = (v: Map<string, number>) => ['all', 'first', 'batch'].reduce((n, op) => n + (v.get(`edgeboot_db_round_trips_total{op="${op}"}`) ?? NaN), 0);
      const before = (await scrape(t)).values;
      expect((await call(t, 'GET', `/v1/sites/${site}`)).status).toBe(200);
      const between = (await scrape(t)).values;
      // The site read and the token lookup (or its cache) cost at least one round trip.
      expect(sum(between)).toBeGreaterThan(sum(before));
      expect((await call(t, 'PATCH', `/v1/sites/${site}`, { json: { name: `renamed-${site}` } })).status).toBe(200);
      const after = (await scrape(t)).values;
      expect(after.get('edgeboot_db_round_trips_total{op="batch"}')).toBeGreaterThan(between.get('edgeboot_db_round_trips_total{op="batch"}')!);
    });

    it('labels a request for an unknown path as unmatched, not by its path', async () => {
      const t = target();
      const path = `/v1/no-such-thing-${Date.now().toString(36)}`;
      expect((await call(t, 'GET', path)).status).toBe(404);
      const { values, text } = await scrape(t);
      expect(values.get('edgeboot_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
      expect(text).not.toContain(path);
    });
  });
}
