import { expect } from 'vitest';
import { relayEventId, renderedBoot, type RenderedBoot } from '../boot-fixtures.ts';
import { call, randomMac, type ApiTarget } from '../target.ts';
import { relayOnly, siteRead, type Expect, type Row, type SiteKey, type World } from './matrix.ts';

/** Callbacks take only a boot's callback token: no person's or relay's token opens them. */
const callbackTokenOnly: Expect = {
  admin: 401,
  operatorOwn: 401,
  operatorOther: 401,
  viewerAll: 401,
  viewerOwn: 401,
  viewerOther: 401,
  relayOwn: 401,
  relayOther: 401,
  anonymous: 401,
  revoked: 401,
  garbage: 401,
};

const bootOf = (w: World): Promise<RenderedBoot> => renderedBoot(w.t, w.sites.A, { relay: { relayId: w.relays.A, token: w.tokens.relayA } });
const stages = async (t: ApiTarget, machineId: string): Promise<string[]> =>
  (await call(t, 'GET', `/v1/machines/${machineId}/timeline`)).body.boots.flatMap((b: any) => b.stages.map((s: any) => s.stage));

const callbackRow = (event: string, json: unknown): Row => ({
  route: `POST /v1/callback/${event}`,
  sites: 'none',
  expect: callbackTokenOnly,
  setup: (w) => bootOf(w),
  request: () => ({ method: 'POST', path: `/v1/callback/${event}`, json }),
  after: async (w, _s, b: RenderedBoot) => {
    expect(await stages(w.t, b.machineId)).toEqual(['script-rendered']);
    // The boot's own token still works: the refusals spent nothing.
    expect((await call(w.t, 'POST', '/v1/callback/started', { token: b.token })).status).toBe(200);
  },
});

const machineIn = async (w: World, site: SiteKey): Promise<{ id: string; mac: string }> =>
  (await call(w.t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: w.sites[site] } })).body;


export const telemetryRows: Row[] = [
  callbackRow('started', {}),
  callbackRow('progress', { percent: 1 }),
  callbackRow('succeeded', {}),
  callbackRow('failed', { reason: 'x' }),
  callbackRow('job', { disks: [] }),
  {
    // The token is in the path: whatever the caller's bearer, a token that is no boot's opens nothing.
    route: 'GET /v1/callback/files/{token}/{name}',
    sites: 'none',
    expect: callbackTokenOnly,
    setup: (w) => bootOf(w),
    request: () => ({ method: 'GET', path: '/v1/callback/files/ebc_notaboottokennotaboottokennota/preseed.cfg' }),
    after: async (w, _s, b: RenderedBoot) => expect(await stages(w.t, b.machineId)).toEqual(['script-rendered']),
  },
  {
    route: 'POST /v1/relay/events',
    sites: 'none',
    expect: relayOnly(200),
    setup: (w) => machineIn(w, 'A'),
    request: (_w, _s, m: { mac: string }) => ({
      method: 'POST',
      path: '/v1/relay/events',
      json: { events: [{ id: relayEventId('authz'), mac: m.mac, stage: 'dhcp-offer', at: new Date().toISOString() }] },
    }),
    after: async (w, _s, m: { id: string }, { ok }) => expect(await stages(w.t, m.id)).toEqual(ok ? ['dhcp-offer'] : []),
  },
  {
    route: 'GET /v1/relay/sync',
    sites: 'none',
    expect: relayOnly(200),
    request: () => ({ method: 'GET', path: '/v1/relay/sync' }),
    after: async (w, _s, _x, { ok, res }) => {
      if (ok) expect(res.body.siteId).toBe(w.sites.A);
    },
  },
  {
    route: 'GET /v1/relay/loaders',
    sites: 'none',
    expect: relayOnly(200),
    request: () => ({ method: 'GET', path: '/v1/relay/loaders' }),
    after: async (_w, _s, _x, { ok, res }) => {
      // Site A names no shim or GRUB: nothing to sign, and nothing of another site leaks.
      if (ok) expect(res.body).toEqual({ files: [] });
    },
  },
  {
    route: 'GET /v1/machines/{id}/timeline',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => machineIn(w, site),
    request: (_w, _s, m: { id: string }) => ({ method: 'GET', path: `/v1/machines/${m.id}/timeline` }),
  },
];
