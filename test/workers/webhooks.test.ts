import { runDurableObjectAlarm } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import { call, type ApiTarget } from '../contract/target.ts';

/**
 * Delivery on Workers (the worker of wrangler.toml in workerd, local D1): D1's triggers recording
 * events, the WebhookDispatcher Durable Object's alarm taking them from the outbox. The routes'
 * contract runs with every other resource's in test/workers/api.test.ts (contract/api/index.ts).
 */
const target: ApiTarget = {
  name: 'workerd',
  adminToken: env.EDGEBOOT_ADMIN_TOKEN,
  fetch: (path, init) => exports.default.fetch(new Request(new URL(path, 'http://edgeboot.test'), init)),
};


describe('webhook delivery on Workers', () => {
  it("records a relay coming online through D1's triggers", async () => {
    const siteId = await createSite(target);
    const hook = (await call(target, 'POST', '/v1/webhooks', { json: { url: 'https://hooks.example.com/r', siteId, events: ['relay.online'] } })).body;
    const relay = await enrollRelay(target, siteId);
    expect((await call(target, 'POST', '/v1/relay/heartbeat', { token: relay.token, json: {} })).status).toBe(200);
    const log = (await call(target, 'GET', `/v1/webhooks/${hook.id}/deliveries`)).body.items;
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ eventType: 'relay.online', siteId, data: { id: relay.relayId, siteId } });
  });

  it("attempts due deliveries from the Durable Object's alarm, checking the address again when sending", async () => {
    // A webhook saved before the operator narrowed the allowed networks (written directly: the API
    // refuses it today): the alarm must refuse to send, log why, and schedule the retry.
    const now = Date.now();
    const webhookId = `whk_${crypto.randomUUID().replaceAll('-', '').slice(0, 26)}`;
    const deliveryId = `whd_${String(now).padStart(13, '0')}${'0123456789abcdef'}`;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO webhooks (id, site_id, url, events, secret, created_at) VALUES (?, NULL, 'https://127.0.0.1/hook', '[\"relay.online\"]', ?, ?)").bind(
        webhookId,
        `whsec_${btoa('k'.repeat(32))}`,
        now,
      ),
      env.DB.prepare("INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, data, occurred_at, next_attempt_at) VALUES (?, ?, 'test:1', 'webhook.test', '{}', ?, ?)").bind(
        deliveryId,
        webhookId,
        now,
        now,
      ),
    ]);
    const stub = env.WEBHOOKS!.get(env.WEBHOOKS!.idFromName('webhooks'));
    await stub.kick();
    await runDurableObjectAlarm(stub);
    const [d] = (await call(target, 'GET', `/v1/webhooks/${webhookId}/deliveries`)).body.items;
    expect(d).toMatchObject({ id: deliveryId, state: 'pending', attempts: 1, lastStatus: null });
    expect(d.lastError).toMatch(/^refused: 127\.0\.0\.1 is a private, loopback or link-local address/);
    expect(Date.parse(d.nextAttemptAt)).toBeGreaterThan(now);
  });
});
