import { expect } from 'vitest';
import { call } from '../target.ts';
import { listedIff, type Expect, type Row, type World } from './matrix.ts';

/**
 * Webhooks (issue 17): admins and the site's operators; viewers are refused outright (403 whoever's
 * site it is, so nothing is confirmed), since receivers' URLs and the delivery log are integration
 * details, not fleet state. Another site's webhook does not exist for an operator (404).
 */
const refused = { relayOwn: 403, relayOther: 403, anonymous: 401, revoked: 401, garbage: 401 } as const;
const managers = (ok: number): Expect => ({ admin: ok, operatorOwn: ok, operatorOther: 404, viewerAll: 403, viewerOwn: 403, viewerOther: 403, ...refused });

const hookOf = async (w: World, site: 'A' | 'B') => (await w.admin('POST', '/v1/webhooks', { url: 'https://hooks.example.com/matrix', siteId: w.sites[site] }, 201)).id as string;
/**
 * A webhook with one test delivery waiting for its next attempt. Where a dispatcher runs (Node, Deno,
 * workerd) its first attempt (to a host this sandbox cannot reach) is awaited first, so the delivery
 * is not in flight when the row's call comes; the in-process column has none and returns at once.
 */
async function waitingDelivery(w: World, site: 'A' | 'B'): Promise<{ id: string; deliveryId: string }> {
  const id = await hookOf(w, site);
  const deliveryId = (await w.admin('POST', `/v1/webhooks/${id}/test`, undefined, 202)).id as string;
  for (let i = 0; i < 40; i++) {
    const [d] = (await call(w.t, 'GET', `/v1/webhooks/${id}/deliveries`)).body.items;
    if (d.state !== 'delivering' && d.attempts >= 1) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return { id, deliveryId };
}

const exists = async (w: World, id: string) => (await call(w.t, 'GET', `/v1/webhooks/${id}`)).status === 200;

export const webhookRows: Row[] = [
  {
    route: 'POST /v1/webhooks',
    sites: 'each',
    expect: { ...managers(201), operatorOther: 404 },
    request: (w, site) => ({ method: 'POST', path: '/v1/webhooks', json: { url: 'https://hooks.example.com/created', siteId: w.sites[site] } }),
    after: async (w, _site, _s, { ok, res }) => {
      if (ok) expect(await exists(w, res.body.id)).toBe(true);
    },
  },
  {
    route: 'GET /v1/webhooks',
    sites: 'each',
    expect: { ...managers(200), operatorOther: 200 },
    setup: hookOf,
    request: () => ({ method: 'GET', path: '/v1/webhooks?limit=500' }),
    after: listedIff(() => '/v1/webhooks', (item) => item.siteId),
  },
  {
    route: 'GET /v1/webhooks/{id}',
    sites: 'each',
    expect: managers(200),
    setup: hookOf,
    request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/webhooks/${id}` }),
  },
  {
    route: 'DELETE /v1/webhooks/{id}',
    sites: 'each',
    expect: managers(204),
    setup: hookOf,
    request: (_w, _s, id: string) => ({ method: 'DELETE', path: `/v1/webhooks/${id}` }),
    after: async (w, _site, id: string, { ok }) => expect(await exists(w, id)).toBe(!ok),
  },
  {
    route: 'GET /v1/webhooks/{id}/deliveries',
    sites: 'each',
    expect: managers(200),
    setup: hookOf,
    request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/webhooks/${id}/deliveries` }),
  },
  {
    route: 'POST /v1/webhooks/{id}/test',
    sites: 'each',
    expect: managers(202),
    setup: hookOf,
    request: (_w, _s, id: string) => ({ method: 'POST', path: `/v1/webhooks/${id}/test` }),
    after: async (w, _site, id: string, { ok }) => {
      const items = (await call(w.t, 'GET', `/v1/webhooks/${id}/deliveries`)).body.items;
      expect(items).toHaveLength(ok ? 1 : 0);
    },
  },
  {
    route: 'POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry',
    sites: 'each',
    expect: managers(202),
    setup: waitingDelivery,
    request: (_w, _s, x: { id: string; deliveryId: string }) => ({ method: 'POST', path: `/v1/webhooks/${x.id}/deliveries/${x.deliveryId}/retry` }),
  },
];
