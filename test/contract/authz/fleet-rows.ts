import { expect } from 'vitest';
import { call, randomMac, unique, type ApiTarget } from '../target.ts';
import { adminOnly, anyPerson, listedIff, siteRead, siteWrite, type Expect, type Row, type SiteKey, type World } from './matrix.ts';

/**
 * Creating in a site. Viewers are refused for their role first (403); an operator naming a site it
 * cannot see gets the same 400 as for a site that does not exist (routes/refs.ts), so a reference
 * cannot probe other sites.
 */
const placeIn = (ok: number): Expect => ({ ...siteWrite(ok), operatorOther: 400, viewerOther: 403 });

async function created(w: World, path: string, json: unknown): Promise<any> {
  const r = await call(w.t, 'POST', path, { json });
  if (r.status !== 201) throw new Error(`setup: POST ${path} gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

const machineIn = async (w: World, site: SiteKey): Promise<{ id: string; mac: string }> =>
  created(w, '/v1/machines', { mac: randomMac(), siteId: w.sites[site], hostname: unique('m') });
const profile = async (w: World): Promise<string> => (await created(w, '/v1/profiles', { name: unique('authz-profile'), spec: { kind: 'local' } })).id;
const assignmentIn = async (w: World, site: SiteKey): Promise<string> =>
  (await created(w, '/v1/assignments', { profileId: await profile(w), selector: { siteId: w.sites[site] } })).id;

async function status(t: ApiTarget, path: string): Promise<number> {
  return (await call(t, 'GET', path)).status;
}

export const machineRows: Row[] = [
  {
    route: 'GET /v1/machines',
    sites: 'each',
    expect: anyPerson(200),
    setup: async (w, site) => (await machineIn(w, site)).id,
    request: (w, site) => ({ method: 'GET', path: `/v1/machines?siteId=${w.sites[site]}&limit=500` }),
    after: listedIff((w, site) => `/v1/machines?siteId=${w.sites[site]}`, (m) => m.siteId),
  },
  {
    route: 'POST /v1/machines',
    sites: 'each',
    expect: placeIn(201),
    setup: async () => randomMac(),
    request: (w, site, mac: string) => ({ method: 'POST', path: '/v1/machines', json: { mac, siteId: w.sites[site] } }),
    after: async (w, _site, mac: string, { ok }) => expect(await status(w.t, `/v1/machines/${mac}`)).toBe(ok ? 200 : 404),
  },
  {
    route: 'GET /v1/machines/{id}',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => machineIn(w, site),
    request: (_w, _s, m: { id: string }) => ({ method: 'GET', path: `/v1/machines/${m.id}` }),
  },
  {
    route: 'GET /v1/machines/{mac}',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => machineIn(w, site),
    request: (_w, _s, m: { mac: string }) => ({ method: 'GET', path: `/v1/machines/${m.mac.replaceAll(':', '-')}` }),
  },
  {
    route: 'GET /v1/machines/{id}/assignment',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => machineIn(w, site),
    request: (_w, _s, m: { id: string }) => ({ method: 'GET', path: `/v1/machines/${m.id}/assignment` }),
  },
  {
    route: 'PATCH /v1/machines/{id}',
    sites: 'each',
    expect: siteWrite(200),
    setup: async (w, site) => ({ ...(await machineIn(w, site)), hostname: unique('renamed') }),
    request: (_w, _s, m: { id: string; hostname: string }) => ({ method: 'PATCH', path: `/v1/machines/${m.id}`, json: { hostname: m.hostname } }),
    after: async (w, _s, m: { id: string; hostname: string }, { ok }) => {
      expect((await call(w.t, 'GET', `/v1/machines/${m.id}`)).body.hostname === m.hostname).toBe(ok);
    },
  },
  {
    route: 'PATCH /v1/machines/{id} (move to the other site)',
    sites: 'each',
    // Moving needs write access to both sites: only admins have it here.
    expect: { ...siteWrite(200), operatorOwn: 400 },
    setup: (w, site) => machineIn(w, site),
    request: (w, site, m: { id: string }) => ({ method: 'PATCH', path: `/v1/machines/${m.id}`, json: { siteId: w.sites[site === 'A' ? 'B' : 'A'] } }),
    after: async (w, site, m: { id: string }, { ok }) => {
      expect((await call(w.t, 'GET', `/v1/machines/${m.id}`)).body.siteId).toBe(w.sites[ok ? (site === 'A' ? 'B' : 'A') : site]);
    },
  },
  {
    route: 'DELETE /v1/machines/{id}',
    sites: 'each',
    expect: siteWrite(204),
    setup: (w, site) => machineIn(w, site),
    request: (_w, _s, m: { id: string }) => ({ method: 'DELETE', path: `/v1/machines/${m.id}` }),
    after: async (w, _s, m: { id: string }, { ok }) => expect(await status(w.t, `/v1/machines/${m.id}`)).toBe(ok ? 404 : 200),
  },
];

/** Profiles are a global catalog: every person reads it, only admins change it. */
export const profileRows: Row[] = [
  { route: 'GET /v1/profiles', sites: 'none', expect: anyPerson(200), request: () => ({ method: 'GET', path: '/v1/profiles' }) },
  {
    route: 'POST /v1/profiles',
    sites: 'none',
    expect: adminOnly(201),
    setup: async () => unique('authz-profile'),
    request: (_w, _s, name: string) => ({ method: 'POST', path: '/v1/profiles', json: { name, spec: { kind: 'local' } } }),
    after: async (w, _s, name: string, { ok, res }) => {
      if (ok) expect(await status(w.t, `/v1/profiles/${res.body.id}`)).toBe(200);
      else expect((await call(w.t, 'GET', '/v1/profiles?limit=500')).body.items.map((p: { name: string }) => p.name)).not.toContain(name);
    },
  },
  { route: 'GET /v1/profiles/{id}', sites: 'none', expect: anyPerson(200), setup: profile, request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/profiles/${id}` }) },
  {
    route: 'PATCH /v1/profiles/{id}',
    sites: 'none',
    expect: adminOnly(200),
    setup: async (w) => ({ id: await profile(w), description: unique('d') }),
    request: (_w, _s, p: { id: string; description: string }) => ({ method: 'PATCH', path: `/v1/profiles/${p.id}`, json: { description: p.description } }),
    after: async (w, _s, p: { id: string; description: string }, { ok }) => {
      expect((await call(w.t, 'GET', `/v1/profiles/${p.id}`)).body.description === p.description).toBe(ok);
    },
  },
  {
    route: 'DELETE /v1/profiles/{id}',
    sites: 'none',
    expect: adminOnly(204),
    setup: profile,
    request: (_w, _s, id: string) => ({ method: 'DELETE', path: `/v1/profiles/${id}` }),
    after: async (w, _s, id: string, { ok }) => expect(await status(w.t, `/v1/profiles/${id}`)).toBe(ok ? 404 : 200),
  },
];

/** Assignments belong to the site of their machine or selector (see routes/assignments.ts). */
export const assignmentRows: Row[] = [
  {
    route: 'GET /v1/assignments',
    sites: 'each',
    expect: anyPerson(200),
    setup: assignmentIn,
    request: () => ({ method: 'GET', path: '/v1/assignments?limit=500' }),
    // Only a selector's siteId tells the site from the outside; fleet-wide rules are visible to every
    // person by design, and a machine's assignments carry its site only in the database.
    after: listedIff(() => '/v1/assignments', (a) => a.selector.siteId),
  },
  {
    route: 'POST /v1/assignments',
    sites: 'each',
    expect: placeIn(201),
    setup: async (w) => ({ profileId: await profile(w), priority: Math.floor(Math.random() * 2000) - 1000 }),
    request: (w, site, a: { profileId: string; priority: number }) => ({
      method: 'POST',
      path: '/v1/assignments',
      json: { profileId: a.profileId, priority: a.priority, selector: { siteId: w.sites[site] } },
    }),
    after: async (w, _s, a: { profileId: string }, { ok }) => {
      const all = (await call(w.t, 'GET', '/v1/assignments?limit=500')).body.items as { profileId: string }[];
      expect(all.filter((x) => x.profileId === a.profileId)).toHaveLength(ok ? 1 : 0);
    },
  },
  { route: 'GET /v1/assignments/{id}', sites: 'each', expect: siteRead(200), setup: assignmentIn, request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/assignments/${id}` }) },
  {
    route: 'PATCH /v1/assignments/{id}',
    sites: 'each',
    expect: siteWrite(200),
    setup: assignmentIn,
    request: (_w, _s, id: string) => ({ method: 'PATCH', path: `/v1/assignments/${id}`, json: { priority: 999 } }),
    after: async (w, _s, id: string, { ok }) => expect((await call(w.t, 'GET', `/v1/assignments/${id}`)).body.priority).toBe(ok ? 999 : 0),
  },
  {
    route: 'DELETE /v1/assignments/{id}',
    sites: 'each',
    expect: siteWrite(204),
    setup: assignmentIn,
    request: (_w, _s, id: string) => ({ method: 'DELETE', path: `/v1/assignments/${id}` }),
    after: async (w, _s, id: string, { ok }) => expect(await status(w.t, `/v1/assignments/${id}`)).toBe(ok ? 404 : 200),
  },
];
