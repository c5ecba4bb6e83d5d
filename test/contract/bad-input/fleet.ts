import { expect } from 'vitest';
import { randomMac, unique } from '../target.ts';
import { GENERIC_BAD_QUERY, noneNamed, sameObject, type BodyEndpoint, type IdRoute, type InputWorld, type ListRoute } from './suite.ts';

async function created(w: InputWorld, path: string, json: unknown): Promise<any> {
  const r = await w.admin('POST', path, json);
  if (r.status !== 201) throw new Error(`setup: POST ${path} gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}
const profile = async (w: InputWorld): Promise<string> => (await created(w, '/v1/profiles', { name: unique('input-profile'), spec: { kind: 'local' } })).id;
const NO_SITE = 'site_00000000000000000000000000';
const NO_PROFILE = 'prf_00000000000000000000000000';

const BAD_MACS = ['52:54:00:12:34', '52:54:00:12:34:56:78', 'zz:54:00:12:34:56', '52:54-00:12:34:56', '5254.0012.345g', '52 54 00 12 34 56', '', 'x'.repeat(41)];

/** Machines, profiles, assignments. */
export const fleetEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/machines',
    method: 'POST',
    target: async () => ({ path: '/v1/machines' }),
    valid: (w) => ({ mac: randomMac(), siteId: w.siteA, hostname: unique('input-m') }),
    invalid: (w) => [
      ...BAD_MACS.map((mac) => ({ mac, siteId: w.siteA })),
      { mac: 525400123456 },
      { siteId: w.siteA },
      { mac: randomMac(), siteId: NO_SITE },
      { mac: randomMac(), siteId: 5 },
      { mac: randomMac(), uuid: 'not-a-uuid' },
      { mac: randomMac(), hostname: '-leading-hyphen' },
      { mac: randomMac(), hostname: 'a'.repeat(254) },
      { mac: randomMac(), serial: 'with space' },
      { mac: randomMac(), arch: 'sparc' },
      { mac: randomMac(), state: 'exploded' },
      { mac: randomMac(), labels: { 'Bad Key': 'v' } },
      { mac: randomMac(), labels: { rack: 'has space' } },
      { mac: randomMac(), labels: 'rack=r1' },
      { mac: randomMac(), labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) },
    ],
    unchanged: async (w, valid) => async () => expect((await w.admin('GET', `/v1/machines/${valid.mac}`)).status).toBe(404),
  },
  {
    route: 'PATCH /v1/machines/{id}',
    method: 'PATCH',
    target: async (w) => ({ path: `/v1/machines/${(await created(w, '/v1/machines', { mac: randomMac(), siteId: w.siteA })).id}` }),
    valid: () => ({ hostname: unique('input-m') }),
    invalid: () => [{ mac: randomMac() }, { hostname: 5 }, { hostname: 'under_score' }, { labels: 'x' }, { state: 'exploded' }, { arch: 7 }, { siteId: NO_SITE }],
    unchanged: sameObject(),
  },
  {
    route: 'POST /v1/profiles',
    method: 'POST',
    target: async () => ({ path: '/v1/profiles' }),
    valid: () => ({ name: unique('input-p'), spec: { kind: 'local' } }),
    invalid: () => [
      { name: unique('p'), spec: { kind: 'nope' } },
      { name: unique('p'), spec: 'local' },
      { name: unique('p'), spec: { kind: 'linux' } },
      { name: unique('p'), spec: { kind: 'linux', kernel: 'img_00000000000000000000000000' } },
      { name: unique('p'), spec: { kind: 'local', kernel: 'x' } },
      { name: unique('p'), spec: { kind: 'ipxe', script: 5 } },
      { name: unique('p'), spec: { kind: 'ipxe', script: 'x'.repeat(16_385) } },
      { name: unique('p'), spec: { kind: 'menu', timeoutSeconds: -1 } },
      { name: unique('p'), spec: { kind: 'menu', items: [{ label: 'a', profileId: NO_PROFILE }] } },
      { spec: { kind: 'local' } },
    ],
    unchanged: noneNamed('/v1/profiles', 'name'),
  },
  {
    route: 'PATCH /v1/profiles/{id}',
    method: 'PATCH',
    target: async (w) => ({ path: `/v1/profiles/${await profile(w)}` }),
    valid: () => ({ description: unique('d') }),
    invalid: () => [{ name: 5 }, { description: 1 }, { spec: { kind: 'x' } }, { spec: null }],
    unchanged: sameObject(),
  },
  {
    route: 'POST /v1/assignments',
    method: 'POST',
    target: async () => ({ path: '/v1/assignments' }),
    valid: async (w) => ({ profileId: await profile(w), selector: { siteId: w.siteA } }),
    invalid: async (w) => {
      const profileId = await profile(w);
      return [
        { profileId, selector: {} },
        { profileId, selector: { mac: 'not-a-mac' } },
        { profileId, selector: { arch: 'z80' } },
        { profileId, selector: { siteId: NO_SITE } },
        { profileId, selector: { machineId: 'mch_00000000000000000000000000' } },
        { profileId, selector: { siteId: w.siteA, colour: 'blue' } },
        { profileId: NO_PROFILE, selector: { siteId: w.siteA } },
        { profileId, selector: { siteId: w.siteA }, priority: 5000 },
        { profileId, selector: { siteId: w.siteA }, once: 'yes' },
        { selector: { siteId: w.siteA } },
      ];
    },
    unchanged: async (w, valid) => async () => {
      const r = await w.admin('GET', `/v1/assignments?profileId=${valid.profileId}`);
      expect(r.body.items).toEqual([]);
    },
  },
  {
    route: 'PATCH /v1/assignments/{id}',
    method: 'PATCH',
    target: async (w) => ({ path: `/v1/assignments/${(await created(w, '/v1/assignments', { profileId: await profile(w), selector: { siteId: w.siteA } })).id}` }),
    valid: () => ({ priority: 3 }),
    invalid: () => [{ priority: 'high' }, { priority: 1001 }, { once: 1 }, { selector: { arch: 'bios' } }, { profileId: NO_PROFILE }],
    unchanged: sameObject(),
  },
];

const idRoutes = (base: string, unknownId: string, patch: unknown, shapedIds = false, extra: IdRoute[] = []): IdRoute[] => [
  { route: `GET ${base}/{id}`, method: 'GET', path: (id) => `${base}/${id}`, unknownId, shapedIds },
  { route: `PATCH ${base}/{id}`, method: 'PATCH', path: (id) => `${base}/${id}`, unknownId, json: patch, shapedIds },
  { route: `DELETE ${base}/{id}`, method: 'DELETE', path: (id) => `${base}/${id}`, unknownId, shapedIds },
  ...extra,
];

export const fleetIds: IdRoute[] = [
  // Machines are addressed by id or MAC, and say so (400) for anything that is neither.
  ...idRoutes('/v1/machines', 'mch_00000000000000000000000000', { hostname: 'x' }, true, [
    { route: 'GET /v1/machines/{mac} (unknown MAC)', method: 'GET', path: (id) => `/v1/machines/${id}`, unknownId: '02-00-00-00-00-01', shapedIds: true },
    { route: 'GET /v1/machines/{id}/assignment', method: 'GET', path: (id) => `/v1/machines/${id}/assignment`, unknownId: 'mch_00000000000000000000000000', shapedIds: true },
  ]),
  ...idRoutes('/v1/profiles', NO_PROFILE, { description: 'x' }),
  ...idRoutes('/v1/assignments', 'asg_00000000000000000000000000', { priority: 1 }),
];

export const fleetLists: ListRoute[] = [
  {
    route: '/v1/machines',
    path: '/v1/machines',
    bad: [
      ...GENERIC_BAD_QUERY,
      'state=exploded',
      'arch=z80',
      'label=novalue',
      'label=Bad%20Key%3Dv',
      'q=%25',
      'q=a_b',
      `siteId=${'s'.repeat(65)}`,
      Array.from({ length: 9 }, (_, i) => `label=k${i}%3Dv`).join('&'),
    ],
  },
  { route: '/v1/profiles', path: '/v1/profiles', bad: [...GENERIC_BAD_QUERY, 'kind=windows'] },
  { route: '/v1/assignments', path: '/v1/assignments', bad: [...GENERIC_BAD_QUERY, `machineId=${'m'.repeat(65)}`] },
];

