import { expect } from 'vitest';
import { createSite, createToken, enrollmentCode, enrollRelay, type IssuedToken } from '../fixtures.ts';
import { call, unique } from '../target.ts';
import { adminOnly, anyPerson, listedIff, relayOnly, siteRead, siteWrite, type Row } from './matrix.ts';

/** Sites, tokens, relays and enrollment, the relay's own endpoints, the audit log. */
export const accessRows: Row[] = [
  // sites
  {
    route: 'GET /v1/sites',
    sites: 'each',
    expect: anyPerson(200),
    setup: async (w, site) => w.sites[site],
    request: () => ({ method: 'GET', path: '/v1/sites?limit=500' }),
    after: listedIff(() => '/v1/sites', (s) => s.id),
  },
  {
    route: 'POST /v1/sites',
    sites: 'none',
    expect: adminOnly(201),
    setup: async () => unique('authz-site'),
    request: (_w, _s, name: string) => ({ method: 'POST', path: '/v1/sites', json: { name } }),
    after: async (w, _s, name: string, { ok }) => {
      const names = (await w.admin('GET', '/v1/sites?limit=500')).items.map((s: { name: string }) => s.name);
      expect(names.includes(name)).toBe(ok);
    },
  },
  { route: 'GET /v1/sites/{id}', sites: 'each', expect: siteRead(200), request: (w, site) => ({ method: 'GET', path: `/v1/sites/${w.sites[site]}` }) },
  {
    route: 'PATCH /v1/sites/{id}',
    sites: 'each',
    expect: siteWrite(200),
    setup: async () => unique('desc'),
    request: (w, site, description: string) => ({ method: 'PATCH', path: `/v1/sites/${w.sites[site]}`, json: { description } }),
    after: async (w, site, description: string, { ok }) => {
      expect((await w.admin('GET', `/v1/sites/${w.sites[site]}`)).description === description).toBe(ok);
    },
  },
  {
    route: 'DELETE /v1/sites/{id}',
    sites: 'none',
    expect: adminOnly(204),
    setup: (w) => createSite(w.t),
    request: (_w, _s, id: string) => ({ method: 'DELETE', path: `/v1/sites/${id}` }),
    after: async (w, _s, id: string, { ok }) => void (await w.admin('GET', `/v1/sites/${id}`, undefined, ok ? 404 : 200)),
  },
  // tokens
  { route: 'GET /v1/tokens', sites: 'none', expect: adminOnly(200), request: () => ({ method: 'GET', path: '/v1/tokens' }) },
  {
    route: 'POST /v1/tokens',
    sites: 'none',
    expect: adminOnly(201),
    setup: async () => unique('authz-token'),
    request: (_w, _s, name: string) => ({ method: 'POST', path: '/v1/tokens', json: { name, role: 'admin' } }),
    after: async (w, _s, name: string, { ok }) => {
      const names = (await w.admin('GET', '/v1/tokens?limit=500')).items.map((x: { name: string }) => x.name);
      expect(names.includes(name)).toBe(ok);
    },
  },
  {
    route: 'GET /v1/tokens/{id}',
    sites: 'none',
    expect: adminOnly(200),
    request: (w) => ({ method: 'GET', path: `/v1/tokens/${w.tokenIds.viewerAll}` }),
  },
  {
    route: 'DELETE /v1/tokens/{id}',
    sites: 'none',
    expect: adminOnly(204),
    setup: (w) => createToken(w.t, { role: 'viewer' }),
    request: (_w, _s, victim: IssuedToken) => ({ method: 'DELETE', path: `/v1/tokens/${victim.id}` }),
    after: async (w, _s, victim: IssuedToken, { ok }) => {
      expect((await call(w.t, 'GET', '/v1/sites', { token: victim.token })).status).toBe(ok ? 401 : 200);
    },
  },
  // relays and enrollment
  {
    route: 'POST /v1/sites/{id}/enrollment-codes',
    sites: 'each',
    expect: siteWrite(201),
    request: (w, site) => ({ method: 'POST', path: `/v1/sites/${w.sites[site]}/enrollment-codes`, json: {} }),
    after: async (w, site, _s, { ok, res }) => {
      if (ok) expect(res.body.siteId).toBe(w.sites[site]);
    },
  },
  {
    route: 'POST /v1/relays/enroll',
    sites: 'none',
    // The code is the credential: any person may type it, anonymously or not; a bad bearer is still 401.
    expect: { ...anyPerson(201), anonymous: 201 },
    setup: (w) => enrollmentCode(w.t, w.sites.A),
    request: (_w, _s, code: string) => ({ method: 'POST', path: '/v1/relays/enroll', json: { code, name: unique('authz-relay') } }),
    after: async (w, _s, code: string, { ok }) => {
      // A refused call must not have used the code up.
      const again = await call(w.t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('authz-relay') } });
      expect(again.status).toBe(ok ? 410 : 201);
    },
  },
  {
    route: 'GET /v1/relays',
    sites: 'each',
    expect: anyPerson(200),
    setup: async (w, site) => w.relays[site],
    request: () => ({ method: 'GET', path: '/v1/relays?limit=500' }),
    after: listedIff(() => '/v1/relays', (r) => r.siteId),
  },
  { route: 'GET /v1/relays/{id}', sites: 'each', expect: siteRead(200), request: (w, site) => ({ method: 'GET', path: `/v1/relays/${w.relays[site]}` }) },
  {
    route: 'DELETE /v1/relays/{id}',
    sites: 'each',
    expect: siteWrite(204),
    setup: (w, site) => enrollRelay(w.t, w.sites[site]),
    request: (_w, _s, r: { relayId: string }) => ({ method: 'DELETE', path: `/v1/relays/${r.relayId}` }),
    after: async (w, _s, r: { relayId: string; token: string }, { ok }) => {
      expect((await w.admin('GET', `/v1/relays/${r.relayId}`)).revokedAt === null).toBe(!ok);
      expect((await call(w.t, 'GET', '/v1/relay/self', { token: r.token })).status).toBe(ok ? 401 : 200);
    },
  },
  { route: 'GET /v1/relay/self', sites: 'none', expect: relayOnly(200), request: () => ({ method: 'GET', path: '/v1/relay/self' }) },
  {
    route: 'POST /v1/relay/heartbeat',
    sites: 'none',
    expect: relayOnly(200),
    setup: async () => unique('v'),
    request: (_w, _s, version: string) => ({ method: 'POST', path: '/v1/relay/heartbeat', json: { version } }),
    after: async (w, _s, version: string, { ok }) => {
      expect((await w.admin('GET', `/v1/relays/${w.relays.A}`)).version === version).toBe(ok);
    },
  },
  // audit
  { route: 'GET /v1/audit', sites: 'none', expect: adminOnly(200), request: () => ({ method: 'GET', path: '/v1/audit?limit=5' }) },
];
