/**
 * /v1/webhooks on every column (in-process, Node, Deno, workerd): subscriptions, who may manage
 * them, the delivery log and the test event, and the URLs refused under the default policy (no
 * operator setting: https to public hosts only). Fetch only: this file also runs inside workerd.
 */
import { describe, expect, it } from 'vitest';
import { createSite, createToken, enrollRelay } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

const PUBLIC_URL = 'https://hooks.example.com/edgeboot';
const ALL_EVENTS = ['machine.discovered', 'machine.deployed', 'machine.failed', 'relay.online', 'relay.offline', 'power_job.succeeded', 'power_job.failed', 'power_job.expired'];

export function webhooksContract(target: () => ApiTarget): void {
  describe('webhooks', () => {
    it('creates a fleet-wide webhook and shows its secret only in that answer', async () => {
      const t = target();
      const r = await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL, description: 'ticketing' } });
      expect(r.status, r.text).toBe(201);
      expect(r.body).toMatchObject({ url: PUBLIC_URL, siteId: null, events: ALL_EVENTS, description: 'ticketing', deliveries: { pending: 0, succeeded: 0, failed: 0 }, lastDelivery: null });
      expect(r.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(r.body.id).toMatch(/^whk_[0-9a-z]{26}$/);
      const got = await call(t, 'GET', `/v1/webhooks/${r.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body.secret).toBeUndefined();
      expect(got.text).not.toContain(r.body.secret.slice(6));
      const list = await call(t, 'GET', '/v1/webhooks?limit=500');
      expect(list.body.items.map((w: { id: string }) => w.id)).toContain(r.body.id);
    });

    it("lets a site's operator manage that site's webhooks, and no other", async () => {
      const t = target();
      const mine = await createSite(t);
      const theirs = await createSite(t);
      const op = await createToken(t, { role: 'operator', siteIds: [mine] });
      const created = await call(t, 'POST', '/v1/webhooks', { token: op.token, json: { url: PUBLIC_URL, siteId: mine, events: ['machine.deployed'] } });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({ siteId: mine, events: ['machine.deployed'] });

      const other = await call(t, 'POST', '/v1/webhooks', { token: op.token, json: { url: PUBLIC_URL, siteId: theirs } });
      expect([other.status, errorCode(other)]).toEqual([404, 'not_found']);
      const fleet = await call(t, 'POST', '/v1/webhooks', { token: op.token, json: { url: PUBLIC_URL } });
      expect([fleet.status, errorCode(fleet)]).toEqual([403, 'forbidden']);

      const adminHook = await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL, siteId: theirs } });
      const seen = (await call(t, 'GET', '/v1/webhooks?limit=500', { token: op.token })).body.items.map((w: { id: string }) => w.id);
      expect(seen).toEqual([created.body.id]);
      expect((await call(t, 'GET', `/v1/webhooks/${adminHook.body.id}`, { token: op.token })).status).toBe(404);
      expect((await call(t, 'GET', `/v1/webhooks/${adminHook.body.id}/deliveries`, { token: op.token })).status).toBe(404);
      expect((await call(t, 'DELETE', `/v1/webhooks/${adminHook.body.id}`, { token: op.token })).status).toBe(404);

      expect((await call(t, 'DELETE', `/v1/webhooks/${created.body.id}`, { token: op.token })).status).toBe(204);
      expect((await call(t, 'GET', `/v1/webhooks/${created.body.id}`)).status).toBe(404);
    });

    it('keeps viewers and relays out', async () => {
      const t = target();
      const siteId = await createSite(t);
      const viewer = await createToken(t, { role: 'viewer' });
      const r = await call(t, 'GET', '/v1/webhooks', { token: viewer.token });
      expect([r.status, errorCode(r)]).toEqual([403, 'forbidden']);
      expect(r.body.error.message).toBe('this needs an admin or operator token');
      const relay = await enrollRelay(t, siteId);
      expect((await call(t, 'POST', '/v1/webhooks', { token: relay.token, json: { url: PUBLIC_URL, siteId } })).status).toBe(403);
    });

    it('queues a test event and shows it in the delivery log', async () => {
      const t = target();
      const hook = (await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL, events: ['relay.offline'] } })).body;
      const r = await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);
      expect(r.status, r.text).toBe(202);
      expect(r.body).toMatchObject({ webhookId: hook.id, eventType: 'webhook.test', siteId: null, data: { webhookId: hook.id } });
      expect(r.body.id).toMatch(/^whd_\d{13}[0-9a-f]{16}$/);
      const log = await call(t, 'GET', `/v1/webhooks/${hook.id}/deliveries`);
      expect(log.status).toBe(200);
      expect(log.body.items.map((d: { id: string }) => d.id)).toEqual([r.body.id]);
      expect(Array.isArray(log.body.items[0].attemptLog)).toBe(true);
      expect((await call(t, 'GET', `/v1/webhooks/${hook.id}/deliveries?cursor=${r.body.id}`)).body.items).toEqual([]);
    });

    it('answers 404 for a retry of a delivery that is not this webhook\'s', async () => {
      const t = target();
      const a = (await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL } })).body;
      const b = (await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL } })).body;
      const d = (await call(t, 'POST', `/v1/webhooks/${a.id}/test`)).body;
      const r = await call(t, 'POST', `/v1/webhooks/${b.id}/deliveries/${d.id}/retry`);
      expect([r.status, errorCode(r)]).toEqual([404, 'not_found']);
      expect(r.body.error.message).toBe('delivery not found');
    });

    it('deletes a webhook with its log', async () => {
      const t = target();
      const hook = (await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL } })).body;
      await call(t, 'POST', `/v1/webhooks/${hook.id}/test`);
      expect((await call(t, 'DELETE', `/v1/webhooks/${hook.id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/webhooks/${hook.id}/deliveries`)).status).toBe(404);
      expect((await call(t, 'DELETE', `/v1/webhooks/${hook.id}`)).status).toBe(404);
    });

    describe('refuses receivers on the control plane\'s own networks', () => {
      it.each([
        ['loopback', 'https://127.0.0.1/hook'],
        ['cloud metadata', 'https://169.254.169.254/latest/meta-data/'],
        ['10/8', 'https://10.1.2.3/hook'],
        ['192.168/16', 'https://192.168.10.1/hook'],
        ['IPv6 loopback', 'https://[::1]/hook'],
        ['IPv4-mapped IPv6', 'https://[::ffff:10.0.0.1]/hook'],
        ['decimal IPv4', 'https://2130706433/hook'],
        ['hex IPv4', 'https://0x7f000001/hook'],
        ['octal IPv4', 'https://017700000001/hook'],
        ['full-width digits', 'https://１２７．０．０．１/hook'],
        ['localhost', 'https://localhost:8787/hook'],
        ['a Unicode spelling of localhost', 'https://ｌｏｃａｌｈｏｓｔ/hook'],
      ])('%s', async (_what, url) => {
        const r = await call(target(), 'POST', '/v1/webhooks', { json: { url } });
        expect([r.status, errorCode(r)]).toEqual([400, 'validation_failed']);
        expect(r.body.error.issues).toEqual([{ path: 'url', message: expect.stringMatching(/private, loopback or link-local|local name/) }]);
      });
    });

    it.each([
      ['plain http', { url: 'http://hooks.example.com/' }, 'url'],
      ['another scheme', { url: 'gopher://hooks.example.com/' }, 'url'],
      ['not a URL', { url: 'hooks.example.com' }, 'url'],
      ['credentials in the URL', { url: 'https://u:p@hooks.example.com/' }, 'url'],
      ['a URL over 2048 characters', { url: `https://hooks.example.com/${'a'.repeat(2048)}` }, 'url'],
      ['an unknown event type', { url: PUBLIC_URL, events: ['machine.exploded'] }, 'events.0'],
      ['an empty event list', { url: PUBLIC_URL, events: [] }, 'events'],
      ['an event listed twice', { url: PUBLIC_URL, events: ['relay.online', 'relay.online'] }, 'events'],
      ['an unknown field', { url: PUBLIC_URL, secret: 'mine' }, 'secret'],
      ['a control character in the description', { url: PUBLIC_URL, description: 'a\u0007b' }, 'description'],
    ])('refuses %s with the envelope naming the field', async (_what, json, path) => {
      const r = await call(target(), 'POST', '/v1/webhooks', { json });
      expect([r.status, errorCode(r)]).toEqual([400, 'validation_failed']);
      expect(r.body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
    });

    it('answers 404 for a site that does not exist, and refuses a malformed cursor', async () => {
      const t = target();
      const r = await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL, siteId: unique('site_nope') } });
      expect([r.status, errorCode(r)]).toEqual([404, 'not_found']);
      const hook = (await call(t, 'POST', '/v1/webhooks', { json: { url: PUBLIC_URL } })).body;
      const bad = await call(t, 'GET', `/v1/webhooks/${hook.id}/deliveries?cursor=nope`);
      expect([bad.status, errorCode(bad)]).toEqual([400, 'validation_failed']);
    });
  });
}
