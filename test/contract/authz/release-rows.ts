import { expect } from 'vitest';
import { artifact, publishPath, published, uniqueVersion } from '../releases-fixtures.ts';
import { adminOnly, anyPerson, relayOnly, siteWrite, type Expect, type Row, type World } from './matrix.ts';

/**
 * What a box that is not a relay yet installs from: any person, and anonymous callers. As for
 * POST /v1/relays/enroll, a bearer that is presented is still checked (a bad one is 401) and a
 * relay's token opens only /v1/relay/ (403).
 */
const installable = (ok: number): Expect => ({ ...anyPerson(ok), anonymous: ok });

const fleet = async (w: World): Promise<string | null> => (await w.admin('GET', '/v1/relay-releases/desired')).fleet;
const pinOf = async (w: World, siteId: string): Promise<string | undefined> =>
  ((await w.admin('GET', '/v1/relay-releases/desired')).sites as { siteId: string; version: string }[]).find((s) => s.siteId === siteId)?.version;

export const releaseRows: Row[] = [
  {
    route: 'GET /v1/relay-releases',
    sites: 'none',
    expect: anyPerson(200),
    request: () => ({ method: 'GET', path: '/v1/relay-releases' }),
  },
  {
    route: 'GET /v1/relay-releases/desired',
    sites: 'none',
    expect: anyPerson(200),
    request: () => ({ method: 'GET', path: '/v1/relay-releases/desired' }),
  },
  {
    // The fleet's choice: admins only. Put back as it was after a success (the world is shared).
    route: 'PUT /v1/relay-releases/desired (fleet)',
    sites: 'none',
    expect: adminOnly(200),
    setup: async (w) => ({ version: (await published(w.t, uniqueVersion())).statement.version, before: await fleet(w) }),
    request: (_w, _s, x: { version: string }) => ({ method: 'PUT', path: '/v1/relay-releases/desired', json: { version: x.version } }),
    after: async (w, _s, x: { version: string; before: string | null }, { ok }) => {
      expect(await fleet(w)).toBe(ok ? x.version : x.before);
      if (ok) await w.admin('PUT', '/v1/relay-releases/desired', { version: x.before }, 200);
    },
  },
  {
    // A site's pin: admins and that site's operators.
    route: 'PUT /v1/relay-releases/desired (site pin)',
    sites: 'each',
    expect: siteWrite(200),
    setup: async (w) => (await published(w.t, uniqueVersion())).statement.version,
    request: (w, site, version: string) => ({ method: 'PUT', path: '/v1/relay-releases/desired', json: { version, siteId: w.sites[site] } }),
    after: async (w, site, version: string, { ok }) => {
      expect((await pinOf(w, w.sites[site])) === version).toBe(ok);
      if (ok) await w.admin('PUT', '/v1/relay-releases/desired', { version: null, siteId: w.sites[site] }, 200);
    },
  },
  {
    route: 'PUT /v1/relay-releases/{version}/{arch}/{kind}',
    sites: 'none',
    expect: adminOnly(201),
    setup: (w) => artifact(uniqueVersion(), 'x64', 'executable'),
    request: (_w, _s, a: Awaited<ReturnType<typeof artifact>>) => ({
      method: 'PUT',
      path: publishPath(a.statement),
      body: a.body as BodyInit,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(a.body.length) },
    }),
    after: async (w, _s, a: Awaited<ReturnType<typeof artifact>>, { ok }) => {
      const items = (await w.admin('GET', '/v1/relay-releases')).items as { version: string }[];
      expect(items.some((x) => x.version === a.statement.version)).toBe(ok);
    },
  },
  {
    route: 'POST /v1/relay/update-state',
    sites: 'none',
    expect: relayOnly(200),
    setup: async () => uniqueVersion(),
    request: (_w, _s, version: string) => ({ method: 'POST', path: '/v1/relay/update-state', json: { state: 'downloading', version } }),
    after: async (w, _s, version: string, { ok }) => expect((await w.admin('GET', `/v1/relays/${w.relays.A}`)).update?.version === version).toBe(ok),
  },
  {
    route: 'GET /v1/relay/release',
    sites: 'none',
    expect: relayOnly(200),
    request: () => ({ method: 'GET', path: '/v1/relay/release?arch=x64' }),
  },
  {
    route: 'GET /v1/relay/releases/{version}/{arch}/{kind}',
    sites: 'none',
    expect: relayOnly(200),
    setup: async (w) => (await published(w.t, uniqueVersion())).statement.version,
    request: (_w, _s, version: string) => ({ method: 'GET', path: `/v1/relay/releases/${version}/x64/executable` }),
  },
  {
    route: 'GET /v1/relays/install.sh',
    sites: 'none',
    expect: installable(200),
    request: () => ({ method: 'GET', path: '/v1/relays/install.sh' }),
  },
  {
    route: 'GET /v1/relays/packages/{version}/{arch}/{kind}',
    sites: 'none',
    expect: installable(200),
    setup: async (w) => (await published(w.t, uniqueVersion(), 'x64', 'deb')).statement.version,
    request: (_w, _s, version: string) => ({ method: 'GET', path: `/v1/relays/packages/${version}/x64/deb` }),
  },
];

