import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../cloud/src/app.ts';
import { memoryObjectStore } from '../../cloud/src/adapters/memory-object-store.ts';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import { nodeWebhookTransport } from '../../cloud/src/adapters/node/webhook-transport.ts';
import type { Clock } from '../../cloud/src/ports/clock.ts';
import { fetchWebhookTransport } from '../../cloud/src/webhooks/fetch-transport.ts';
import { engineSettings, runRound, type EngineDeps, type EngineSettings } from '../../cloud/src/webhooks/engine.ts';
import { inProcessWebhooks, type InProcessWebhooks } from '../../cloud/src/webhooks/in-process.ts';
import { REPLAY_WINDOW_SECONDS, verifySignature } from '../../cloud/src/webhooks/signature.ts';
import { parseAllowNets } from '../../cloud/src/webhooks/url-policy.ts';
import { relayEventId, renderedBoot } from '../contract/boot-fixtures.ts';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import { bmcMachine } from '../contract/power-fixtures.ts';
import { call, type ApiTarget } from '../contract/target.ts';
import { manualClock } from '../support/in-process.ts';
import { startReceiver, until } from './receiver.ts';

/**
 * Webhook delivery end to end in this process: the app over SQLite, the delivery engine with the
 * Node transport, and a real HTTP receiver on 127.0.0.1 (allowed here by the operator setting the
 * tests set, EDGEBOOT_WEBHOOK_ALLOW_NETS=127.0.0.0/8 and http).
 */
const ADMIN = 'ebt_webhookstestadmintoken0000000000';
const LOCAL_POLICY = { allowHttp: true, allowNets: parseAllowNets('127.0.0.0/8') };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function world(opts: { clock?: Clock; settings?: Partial<EngineSettings>; runner?: boolean } = {}) {
  const db = openSqlite(':memory:');
  migrateSqlite(db.raw);
  const clock = opts.clock ?? { now: () => Date.now() };
  const engine: EngineDeps = { db, clock, transport: nodeWebhookTransport(), policy: LOCAL_POLICY, settings: { ...engineSettings({ firstRetryMs: 1000 }), ...opts.settings } };
  const runner: InProcessWebhooks | undefined = opts.runner ? inProcessWebhooks(engine) : undefined;
  const app = createApp({ db, objects: memoryObjectStore(), clock, bootstrapAdminToken: ADMIN, webhooks: runner ?? { policy: LOCAL_POLICY, kick: () => {} } });
  runner?.start();
  cleanups.push(async () => {
    await runner?.stop();
    db.close();
  });
  const t: ApiTarget = { name: 'in-process', adminToken: ADMIN, fetch: async (path, init) => app.request(path, init) };
  return { t, db, engine, round: () => runRound(engine) };
}

async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  cleanups.push(() => r.close());
  return r;
}

async function subscribe(t: ApiTarget, url: string, extra: Record<string, unknown> = {}) {
  const r = await call(t, 'POST', '/v1/webhooks', { json: { url, ...extra } });
  expect(r.status, r.text).toBe(201);
  return r.body as { id: string; secret: string };
}

const log = async (t: ApiTarget, id: string) => (await call(t, 'GET', `/v1/webhooks/${id}/deliveries`)).body.items as any[];

describe('webhook delivery to a real receiver', () => {
  it('signs the event so the receiver can verify it, with a timestamp inside the replay window', async () => {
    const { t, round } = world();
    const rx = await receiver();
    const hook = await subscribe(t, rx.url('/hook'));
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect((await call(t, 'POST', `/v1/webhooks/${hook.id}/test`)).status).toBe(202);
    await round();

    const [got] = rx.at('/hook');
    expect(got).toBeDefined();
    const headers = new Headers(got!.headers as Record<string, string>);
    expect(await verifySignature(hook.secret, headers, got!.body, got!.atSeconds)).toBeNull();
    // The same signature computed independently (node:crypto), as a receiver following the spec would.
    const key = Buffer.from(hook.secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${headers.get('webhook-id')}.${headers.get('webhook-timestamp')}.${got!.body}`).digest('base64');
    expect(headers.get('webhook-signature')).toBe(`v1,${expected}`);
    expect(Math.abs(got!.atSeconds - Number(headers.get('webhook-timestamp')))).toBeLessThanOrEqual(REPLAY_WINDOW_SECONDS);
    const event = JSON.parse(got!.body);
    expect(event).toMatchObject({ type: 'webhook.test', id: headers.get('webhook-id'), data: { webhookId: hook.id } });
    expect(headers.get('edgeboot-event')).toBe('webhook.test');

    // A body changed in transit, or an old timestamp, is refused by the same check.
    expect(await verifySignature(hook.secret, headers, got!.body.replace('test', 'tset'), got!.atSeconds)).toBe('signature does not match');
    expect(await verifySignature(hook.secret, headers, got!.body, got!.atSeconds + REPLAY_WINDOW_SECONDS + 1)).toBe('webhook-timestamp outside the replay window');

    const [d] = await log(t, hook.id);
    expect(d).toMatchObject({ state: 'succeeded', attempts: 1, lastStatus: 204, attemptLog: [{ attempt: 1, status: 204, error: null }] });
  });

  it('retries a failing receiver with growing waits, then delivers', async () => {
    const clock = manualClock(Date.now());
    const { t, round } = world({ clock });
    const rx = await receiver((_p, n, res) => void res.writeHead(n <= 2 ? 503 : 200).end(n <= 2 ? 'down for maintenance' : 'ok'));
    const hook = await subscribe(t, rx.url('/flaky'));
    await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);

    await round();
    expect(rx.at('/flaky')).toHaveLength(1);
    expect((await log(t, hook.id))[0]).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 503, lastError: 'receiver answered 503' });

    // The first retry waits 1 s (the ladder's first step, up to a fifth more): not before.
    clock.advance(999);
    await round();
    expect(rx.at('/flaky')).toHaveLength(1);
    clock.advance(1201);
    await round();
    expect(rx.at('/flaky')).toHaveLength(2);

    // The second waits three times as long.
    clock.advance(2999);
    await round();
    expect(rx.at('/flaky')).toHaveLength(2);
    clock.advance(3601);
    await round();
    expect(rx.at('/flaky')).toHaveLength(3);

    const [d] = await log(t, hook.id);
    expect(d.state).toBe('succeeded');
    expect(d.attemptLog.map((a: any) => [a.attempt, a.status, a.response])).toEqual([
      [1, 503, 'down for maintenance'],
      [2, 503, 'down for maintenance'],
      [3, 200, 'ok'],
    ]);
    // Every attempt carries the same event id: the receiver de-duplicates on it.
    expect(new Set(rx.at('/flaky').map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('gives up after the last retry and logs why', async () => {
    const clock = manualClock(Date.now());
    const { t, round } = world({ clock, settings: { retryDelaysMs: [1000, 1000] } });
    const rx = await receiver((_p, _n, res) => void res.writeHead(500).end());
    const hook = await subscribe(t, rx.url('/broken'));
    await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);
    for (let i = 0; i < 5; i++) {
      await round();
      clock.advance(1500);
    }
    expect(rx.at('/broken')).toHaveLength(3);
    const [d] = await log(t, hook.id);
    expect(d).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 500, nextAttemptAt: null });
    expect(d.finishedAt).not.toBeNull();
    const listed = (await call(t, 'GET', `/v1/webhooks/${hook.id}`)).body;
    expect(listed.deliveries).toEqual({ pending: 0, succeeded: 0, failed: 1 });
  });

  it('tries a failed delivery once more on request, and refuses to retry a delivered one', async () => {
    const clock = manualClock(Date.now());
    const { t, round } = world({ clock, settings: { retryDelaysMs: [] } });
    let up = false;
    const rx = await receiver((_p, _n, res) => void res.writeHead(up ? 204 : 500).end());
    const hook = await subscribe(t, rx.url('/again'));
    const d = (await call(t, 'POST', `/v1/webhooks/${hook.id}/test`)).body;
    await round();
    expect((await log(t, hook.id))[0]).toMatchObject({ state: 'failed', attempts: 1 });
    up = true;
    const r = await call(t, 'POST', `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    expect(r.status, r.text).toBe(202);
    expect(r.body).toMatchObject({ state: 'pending', attempts: 1, finishedAt: null });
    await round();
    expect((await log(t, hook.id))[0]).toMatchObject({ state: 'succeeded', attempts: 2, attemptLog: [{ status: 500 }, { status: 204 }] });
    const again = await call(t, 'POST', `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    expect([again.status, again.body.error.message]).toEqual([409, `delivery ${d.id} is succeeded: nothing to retry`]);
  });

  it('delivers from a round (the Durable Object path) to one webhook while another receiver hangs', async () => {
    const { t, engine } = world({ settings: { timeoutMs: 60_000 } });
    let release = () => {};
    const rx = await receiver((path, _n, res) => {
      if (path === '/hang') release = () => void res.writeHead(204).end();
      else res.writeHead(204).end();
    });
    const slow = await subscribe(t, rx.url('/hang'));
    const fast = await subscribe(t, rx.url('/fast'));
    await call(t, 'POST', `/v1/webhooks/${slow.id}/test`);
    for (let i = 0; i < 3; i++) await call(t, 'POST', `/v1/webhooks/${fast.id}/test`);
    const round = runRound(engine);
    await until('the three events at the other receiver while the first hangs', () => rx.at('/fast').length === 3 && rx.at('/hang').length === 1);
    expect((await log(t, slow.id))[0].state).toBe('delivering');
    release();
    expect(await round).toBe(4);
    expect((await log(t, slow.id))[0].state).toBe('succeeded');
  });

  it('times out a receiver that never answers and records no status', async () => {
    const { t, round } = world({ settings: { timeoutMs: 300 } });
    const rx = await receiver(() => {
      /* holds the request open */
    });
    const hook = await subscribe(t, rx.url('/silent'));
    await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);
    await round();
    const [d] = await log(t, hook.id);
    expect(d).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null, lastError: 'no answer within 300 ms' });
  });

  it('keeps delivering to other webhooks while one receiver hangs', async () => {
    // The hanging receiver is given a minute: the other webhook's delivery must not wait for it.
    const { t } = world({ runner: true, settings: { timeoutMs: 60_000 } });
    const rx = await receiver((path, _n, res) => {
      if (path !== '/hang') res.writeHead(204).end();
    });
    const slow = await subscribe(t, rx.url('/hang'));
    const fast = await subscribe(t, rx.url('/fast'));
    await call(t, 'POST', `/v1/webhooks/${slow.id}/test`);
    await until('the hanging receiver to be called', () => rx.at('/hang').length === 1);
    await call(t, 'POST', `/v1/webhooks/${fast.id}/test`);
    await call(t, 'POST', `/v1/webhooks/${fast.id}/test`);
    await until('both events to reach the other receiver', () => rx.at('/fast').length === 2);
    expect((await log(t, slow.id))[0].state).toBe('delivering');
    expect((await log(t, fast.id)).map((d) => d.state)).toEqual(['succeeded', 'succeeded']);
  });

  it('reads no more of an oversized answer than the log keeps', async () => {
    const { t, round } = world();
    const rx = await receiver((_p, _n, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      // 64 MiB offered; the engine keeps 4 KiB and hangs up.
      let left = 1024;
      const more = () => {
        while (left-- > 0) if (!res.write(chunk)) return void res.once('drain', more);
        res.end();
      };
      more();
    });
    const hook = await subscribe(t, rx.url('/big'));
    await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);
    await round();
    const [d] = await log(t, hook.id);
    expect(d.state).toBe('succeeded');
    expect(d.attemptLog[0].response).toHaveLength(4096);
  });

  it('refuses at delivery a name that resolves to a loopback address', async () => {
    const { engine } = world();
    const rx = await receiver();
    const r = await engine.transport.post({
      url: rx.url('/x').replace('127.0.0.1', 'localhost'),
      headers: {},
      body: '{}',
      timeoutMs: 2000,
      maxResponseBytes: 100,
      policy: { allowHttp: true, allowNets: [] },
    });
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/^refused: localhost resolves to (127\.0\.0\.1|::1) is a private, loopback or link-local address$/) });
    expect(rx.received).toHaveLength(0);
  });
});

describe("the Workers transport (fetch), against the same receiver", () => {
  const post = (url: string, timeoutMs = 2000) =>
    fetchWebhookTransport().post({ url, headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs, maxResponseBytes: 16, policy: LOCAL_POLICY });

  it('does not follow a redirect: a 3xx is the answer', async () => {
    const rx = await receiver((path, _n, res) => void (path === '/moved' ? res.writeHead(307, { location: '/elsewhere' }).end() : res.writeHead(204).end()));
    expect(await post(rx.url('/moved'))).toEqual({ ok: true, status: 307, response: '' });
    expect(rx.at('/elsewhere')).toHaveLength(0);
  });

  it('keeps only the first bytes of a long answer', async () => {
    const rx = await receiver((_p, _n, res) => void res.writeHead(200).end('y'.repeat(100_000)));
    expect(await post(rx.url('/long'))).toEqual({ ok: true, status: 200, response: 'y'.repeat(16) });
  });

  it('gives up on a receiver that never answers', async () => {
    const rx = await receiver(() => {});
    expect(await post(rx.url('/never'), 200)).toEqual({ ok: false, error: 'no answer within 200 ms' });
  });
});

describe('events recorded with the change that causes them', () => {
  it('tells a site webhook that a machine was deployed, and a fleet-wide one too', async () => {
    const { t, round } = world();
    const rx = await receiver();
    const siteId = await createSite(t);
    const site = await subscribe(t, rx.url('/site'), { siteId, events: ['machine.deployed', 'machine.failed'] });
    const fleet = await subscribe(t, rx.url('/fleet'), { events: ['machine.deployed'] });
    const other = await subscribe(t, rx.url('/other'), { siteId: await createSite(t) });
    const boot = await renderedBoot(t, siteId);
    expect((await call(t, 'POST', `/v1/callback/succeeded?token=${boot.token}`, { token: null, json: {} })).status).toBe(200);
    await round();
    for (const path of ['/site', '/fleet']) {
      const [got] = rx.at(path);
      expect(JSON.parse(got!.body)).toMatchObject({ type: 'machine.deployed', siteId, data: { id: boot.machineId, mac: boot.mac, state: 'deployed', bootId: boot.bootId } });
    }
    expect(rx.at('/site')[0]!.headers['webhook-id']).toBe(rx.at('/fleet')[0]!.headers['webhook-id']);
    expect(rx.at('/other')).toHaveLength(0);
    expect(site.id).not.toBe(fleet.id);
    expect(other.id).toBeTruthy();
  });

  it('tells of a failed installation', async () => {
    const { t, round } = world();
    const rx = await receiver();
    const siteId = await createSite(t);
    await subscribe(t, rx.url('/f'), { siteId, events: ['machine.failed'] });
    const boot = await renderedBoot(t, siteId);
    expect((await call(t, 'POST', `/v1/callback/failed?token=${boot.token}`, { token: null, json: { reason: 'disk full' } })).status).toBe(200);
    await round();
    expect(JSON.parse(rx.at('/f')[0]!.body)).toMatchObject({ type: 'machine.failed', data: { mac: boot.mac, state: 'failed', previousState: 'provisioning' } });
  });

  it('tells of a boot loader that gave up, reported in a relay event batch', async () => {
    const { t, round } = world();
    const rx = await receiver();
    const siteId = await createSite(t);
    await subscribe(t, rx.url('/l'), { siteId, events: ['machine.failed'] });
    const boot = await renderedBoot(t, siteId);
    const events = [{ id: relayEventId('lf'), mac: boot.mac, stage: 'loader-failed', at: new Date().toISOString(), detail: { reason: 'shim refused grubx64.efi' } }];
    expect((await call(t, 'POST', '/v1/relay/events', { token: boot.relay.token, json: { events } })).status).toBe(200);
    await round();
    expect(JSON.parse(rx.at('/l')[0]!.body)).toMatchObject({ type: 'machine.failed', siteId, data: { id: boot.machineId, state: 'failed', bootId: boot.bootId } });
  });

  it('tells of a machine a relay discovered, not of one a person registered', async () => {
    const { t, round } = world();
    const rx = await receiver();
    const siteId = await createSite(t);
    await subscribe(t, rx.url('/d'), { siteId, events: ['machine.discovered'] });
    const relay = await enrollRelay(t, siteId);
    await call(t, 'POST', '/v1/machines', { json: { mac: '02:00:00:aa:bb:01', siteId } });
    await call(t, 'GET', '/v1/relay/boot?mac=02:00:00:aa:bb:02&arch=7', { token: relay.token });
    await round();
    expect(rx.at('/d').map((r) => JSON.parse(r.body).data.mac)).toEqual(['02:00:00:aa:bb:02']);
  });

  it('tells when a relay comes online and when it has missed three heartbeats', async () => {
    const clock = manualClock(Date.now());
    const { t, round } = world({ clock });
    const rx = await receiver();
    const siteId = await createSite(t);
    await subscribe(t, rx.url('/r'), { siteId, events: ['relay.online', 'relay.offline'] });
    const relay = await enrollRelay(t, siteId);
    expect((await call(t, 'POST', '/v1/relay/heartbeat', { token: relay.token, json: { version: '1.2.3' } })).status).toBe(200);
    clock.advance(60_000);
    await call(t, 'POST', '/v1/relay/heartbeat', { token: relay.token, json: {} });
    await round();
    expect(rx.at('/r').map((r) => JSON.parse(r.body).type)).toEqual(['relay.online']);

    clock.advance(3 * 60_000 - 1);
    await round();
    expect(rx.at('/r')).toHaveLength(1);
    clock.advance(2);
    await round();
    expect(rx.at('/r').map((r) => JSON.parse(r.body).type)).toEqual(['relay.online', 'relay.offline']);
    expect(JSON.parse(rx.at('/r')[1]!.body).data).toMatchObject({ id: relay.relayId, siteId, version: '1.2.3' });

    await call(t, 'POST', '/v1/relay/heartbeat', { token: relay.token, json: {} });
    await round();
    expect(rx.at('/r').map((r) => JSON.parse(r.body).type)).toEqual(['relay.online', 'relay.offline', 'relay.online']);
  });

  it("tells a power job's result", async () => {
    const { t, round } = world();
    const rx = await receiver();
    const siteId = await createSite(t);
    await subscribe(t, rx.url('/p'), { siteId, events: ['power_job.succeeded', 'power_job.failed'] });
    const m = await bmcMachine(t, siteId);
    const job = (await call(t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'status' } })).body;
    const taken = (await call(t, 'GET', '/v1/relay/power-jobs', { token: m.relay.token })).body;
    expect(taken.jobs.map((j: any) => j.id)).toEqual([job.id]);
    expect((await call(t, 'POST', `/v1/relay/power-jobs/${job.id}/result`, { token: m.relay.token, json: { ok: true, powerState: 'on', durationMs: 42 } })).status).toBe(200);
    await round();
    expect(JSON.parse(rx.at('/p')[0]!.body)).toMatchObject({ type: 'power_job.succeeded', data: { id: job.id, machineId: m.machineId, mac: m.mac, action: 'status', powerState: 'on', durationMs: 42 } });
  });
});
