/**
 * The authorization matrix: every route × every kind of caller × an object of the caller's own site
 * or of another site → the status it must get. Table-driven: a route is one row; the callers and the
 * expected outcome per relation are presets (who may read, who may write). Refusals must carry the
 * error envelope, and a refused change must leave its object as it was (checked afterwards as admin).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSite, createToken, enrollmentCode, enrollRelay, garbageToken, revokedToken, type IssuedToken } from './fixtures.ts';
import { call, errorCode, unique, type ApiTarget, type CallResult } from './target.ts';

/** Callers: tokens of site A, of site B, fleet-wide, and the ones that must be turned away. */
export const ACTORS = ['admin', 'operatorA', 'operatorB', 'viewerAll', 'viewerA', 'relayA', 'anonymous', 'revoked', 'garbage'] as const;
export type Actor = (typeof ACTORS)[number];

/** How a caller stands to the object's site: this is what the expectations are written against. */
export type Relation =
  | 'admin'
  | 'operatorOwn'
  | 'operatorOther'
  | 'viewerAll'
  | 'viewerOwn'
  | 'viewerOther'
  | 'relayOwn'
  | 'relayOther'
  | 'anonymous'
  | 'revoked'
  | 'garbage';
export type Expect = Record<Relation, number>;
export type SiteKey = 'A' | 'B';

function relation(actor: Actor, site: SiteKey): Relation {
  const own = site === 'A';
  switch (actor) {
    case 'operatorA':
      return own ? 'operatorOwn' : 'operatorOther';
    case 'operatorB':
      return own ? 'operatorOther' : 'operatorOwn';
    case 'viewerA':
      return own ? 'viewerOwn' : 'viewerOther';
    case 'relayA':
      return own ? 'relayOwn' : 'relayOther';
    default:
      return actor;
  }
}

const refusedCallers = { relayOwn: 403, relayOther: 403, anonymous: 401, revoked: 401, garbage: 401 } as const;
/** Readable by every person whose token covers the object's site; other sites' objects do not exist for them. */
export const siteRead = (ok: number): Expect => ({
  admin: ok,
  operatorOwn: ok,
  operatorOther: 404,
  viewerAll: ok,
  viewerOwn: ok,
  viewerOther: 404,
  ...refusedCallers,
});
/** Changeable by admins and the site's operators; viewers see it (403), other sites do not (404). */
export const siteWrite = (ok: number): Expect => ({
  admin: ok,
  operatorOwn: ok,
  operatorOther: 404,
  viewerAll: 403,
  viewerOwn: 403,
  viewerOther: 404,
  ...refusedCallers,
});
export const adminOnly = (ok: number): Expect => ({
  admin: ok,
  operatorOwn: 403,
  operatorOther: 403,
  viewerAll: 403,
  viewerOwn: 403,
  viewerOther: 403,
  ...refusedCallers,
});
/** Lists and the global catalog: every person, each seeing what their token covers. */
export const anyPerson = (ok: number): Expect => ({
  admin: ok,
  operatorOwn: ok,
  operatorOther: ok,
  viewerAll: ok,
  viewerOwn: ok,
  viewerOther: ok,
  ...refusedCallers,
});
export const relayOnly = (ok: number): Expect => ({
  admin: 403,
  operatorOwn: 403,
  operatorOther: 403,
  viewerAll: 403,
  viewerOwn: 403,
  viewerOther: 403,
  relayOwn: ok,
  relayOther: ok,
  anonymous: 401,
  revoked: 401,
  garbage: 401,
});

export interface World {
  t: ApiTarget;
  sites: Record<SiteKey, string>;
  tokens: Record<Exclude<Actor, 'anonymous'>, string>;
  /** Ids of the issued tokens (for routes about tokens). */
  tokenIds: { viewerAll: string };
  /** The sites each caller is limited to (null = all), to check that lists stay within them. */
  scope: Record<Actor, string[] | null>;
  relays: Record<SiteKey, string>;
  /** Calls as admin and insists on the status (setup and after-checks). */
  admin(method: string, path: string, json?: unknown, status?: number): Promise<any>;
}

export interface Req {
  method: string;
  path: string;
  json?: unknown;
}

export interface Row<S = any> {
  route: string;
  /** 'each': run against an object of site A and one of site B; 'none': the route has no site object. */
  sites: 'each' | 'none';
  expect: Expect;
  /** Makes what the call needs, fresh per cell when the call may consume it. */
  setup?: (w: World, site: SiteKey) => Promise<S>;
  request: (w: World, site: SiteKey, s: S) => Req;
  /** Checks, as admin, that a success did its work and a refusal changed nothing. */
  after?: (w: World, site: SiteKey, s: S, ctx: { ok: boolean; res: CallResult; actor: Actor }) => Promise<void>;
}

/** For list rows: every item must belong to a site the caller may see. */
export function withinScope(siteOf: (item: any) => string | null) {
  return async (w: World, _site: SiteKey, _s: unknown, { ok, res, actor }: { ok: boolean; res: CallResult; actor: Actor }) => {
    if (!ok) return;
    const scope = w.scope[actor];
    if (scope === null) return;
    for (const item of res.body.items) expect(scope, `${actor} sees ${JSON.stringify(item).slice(0, 120)}`).toContain(siteOf(item));
  };
}

const accessRows: Row[] = [
  // sites
  { route: 'GET /v1/sites', sites: 'none', expect: anyPerson(200), request: () => ({ method: 'GET', path: '/v1/sites?limit=500' }), after: withinScope((s) => s.id) },
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
  { route: 'GET /v1/relays', sites: 'none', expect: anyPerson(200), request: () => ({ method: 'GET', path: '/v1/relays?limit=500' }), after: withinScope((r) => r.siteId) },
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

const CODE_OF: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' };

async function buildWorld(t: ApiTarget): Promise<World> {
  const admin = async (method: string, path: string, json?: unknown, status?: number) => {
    const r = await call(t, method, path, { json });
    if (status !== undefined) expect(r.status, `admin ${method} ${path}: ${r.text.slice(0, 200)}`).toBe(status);
    else if (r.status >= 300) throw new Error(`admin ${method} ${path} gave ${r.status}: ${r.text.slice(0, 200)}`);
    return r.body;
  };
  const A = await createSite(t, unique('authz-a'));
  const B = await createSite(t, unique('authz-b'));
  const [opA, opB, viewerAll, viewerA, relayA, relayB, revoked] = [
    await createToken(t, { role: 'operator', siteIds: [A] }),
    await createToken(t, { role: 'operator', siteIds: [B] }),
    await createToken(t, { role: 'viewer' }),
    await createToken(t, { role: 'viewer', siteIds: [A] }),
    await enrollRelay(t, A),
    await enrollRelay(t, B),
    await revokedToken(t),
  ];
  return {
    t,
    admin,
    sites: { A, B },
    relays: { A: relayA.relayId, B: relayB.relayId },
    tokens: {
      admin: t.adminToken,
      operatorA: opA.token,
      operatorB: opB.token,
      viewerAll: viewerAll.token,
      viewerA: viewerA.token,
      relayA: relayA.token,
      revoked: revoked.token,
      garbage: garbageToken(),
    },
    tokenIds: { viewerAll: viewerAll.id },
    scope: { admin: null, operatorA: [A], operatorB: [B], viewerAll: null, viewerA: [A], relayA: [A], anonymous: null, revoked: null, garbage: null },
  };
}

/** Runs one table of rows against a target. Each cell is its own test, titled with its expectation. */
export function authzMatrix(target: () => ApiTarget, rows: Row[], extend?: (w: World) => Promise<void>): void {
  let world: World;
  beforeAll(async () => {
    world = await buildWorld(target());
    await extend?.(world);
  });
  for (const row of rows) {
    describe(row.route, () => {
      const sites: SiteKey[] = row.sites === 'each' ? ['A', 'B'] : ['A'];
      for (const site of sites) {
        for (const actor of ACTORS) {
          const status = row.expect[relation(actor, site)];
          const where = row.sites === 'each' ? ` on a site-${site} object` : '';
          it(`${actor}${where} → ${status}`, async () => {
            const w = world;
            const s = await row.setup?.(w, site);
            const req = row.request(w, site, s);
            const token = actor === 'anonymous' ? null : w.tokens[actor];
            const res = await call(w.t, req.method, req.path, { token, json: req.json });
            expect(res.status, `${req.method} ${req.path} as ${actor}: ${res.text.slice(0, 300)}`).toBe(status);
            const ok = status < 400;
            if (!ok) {
              expect(errorCode(res)).toBe(CODE_OF[status]);
              expect(res.body.error.requestId).toBe(res.headers.get('x-request-id'));
            }
            await row.after?.(w, site, s, { ok, res, actor });
          });
        }
      }
    });
  }
}

/** Every route of the API in one table; resource files add their rows here as they land. */
export const ALL_ROWS: Row[] = [...accessRows];

export function authzContract(target: () => ApiTarget): void {
  describe('authorization matrix', () => {
    authzMatrix(target, ALL_ROWS);
  });
}
