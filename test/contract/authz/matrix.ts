/**
 * The authorization matrix engine: every route × every kind of caller × an object of the caller's own site
 * or of another site → the status it must get. Table-driven: a route is one row; the callers and the
 * expected outcome per relation are presets (who may read, who may write). Refusals must carry the
 * error envelope, and a refused change must leave its object as it was (checked afterwards as admin).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSite, createToken, enrollRelay, garbageToken, revokedToken } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget, type CallResult } from '../target.ts';

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
  /** A raw body (uploads), with its headers. */
  body?: BodyInit;
  headers?: Record<string, string>;
}

export interface AfterContext {
  ok: boolean;
  res: CallResult;
  actor: Actor;
  /** The caller's bearer token (null for anonymous), to look again with its eyes. */
  token: string | null;
  /** The status a read of the object's site gives this caller (siteRead), for list visibility checks. */
  canSee: boolean;
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
  after?: (w: World, site: SiteKey, s: S, ctx: AfterContext) => Promise<void>;
}

/** Every page of a list, as the caller sees it (lists grow across the suite: never trust one page). */
export async function listAll(t: ApiTarget, token: string | null, path: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const r: CallResult = await call(t, 'GET', `${path}${sep}limit=500${cursor ? `&cursor=${cursor}` : ''}`, { token });
    expect(r.status, r.text.slice(0, 200)).toBe(200);
    items.push(...r.body.items);
    cursor = r.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`${path}: more than 100 pages`);
}

/**
 * For list rows run on each site: the site's object must be listed exactly for the callers who may
 * read it, and every item that shows its site must lie within the caller's sites.
 */
export function listedIff(path: (w: World, site: SiteKey) => string, siteOf: (item: any) => string | null | undefined) {
  return async (w: World, site: SiteKey, id: string, { ok, actor, token, canSee }: AfterContext) => {
    if (!ok) return;
    const items = await listAll(w.t, token, path(w, site));
    expect(items.some((x) => x.id === id), `${actor} lists ${id}`).toBe(canSee);
    const scope = w.scope[actor];
    if (scope === null) return;
    for (const item of items) {
      const itemSite = siteOf(item); // undefined: the item does not show its site
      if (itemSite !== undefined) expect(scope, `${actor} sees ${JSON.stringify(item).slice(0, 120)}`).toContain(itemSite);
    }
  };
}

const CODE_OF: Record<number, string> = { 400: 'validation_failed', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' };

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
export function authzMatrix(target: () => ApiTarget, rows: Row[]): void {
  let world: World;
  beforeAll(async () => {
    world = await buildWorld(target());
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
            const res = await call(w.t, req.method, req.path, { token, json: req.json, body: req.body, headers: req.headers });
            expect(res.status, `${req.method} ${req.path} as ${actor}: ${res.text.slice(0, 300)}`).toBe(status);
            const ok = status < 400;
            if (!ok) {
              expect(errorCode(res)).toBe(CODE_OF[status]);
              expect(res.body.error.requestId).toBe(res.headers.get('x-request-id'));
            }
            await row.after?.(w, site, s, { ok, res, actor, token, canSee: siteRead(200)[relation(actor, site)] === 200 });
          });
        }
      }
    });
  }
}

