import { expect } from 'vitest';
import { enrollmentCode } from '../fixtures.ts';
import { unique } from '../target.ts';
import { GENERIC_BAD_QUERY, noneNamed, sameObject, type BodyEndpoint, type IdRoute, type ListRoute } from './suite.ts';

/** Sites, tokens, enrollment, the relay heartbeat, the audit log. */
export const accessEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/sites',
    method: 'POST',
    target: async () => ({ path: '/v1/sites' }),
    valid: () => ({ name: unique('input-site'), description: 'x' }),
    invalid: () => [{ name: 42 }, { name: '' }, { name: 'x'.repeat(65) }, { name: 'bad\u0000name' }, { name: unique('s'), description: ['a'] }, { name: unique('s'), defaultProfileId: 5 }, {}],
    unchanged: noneNamed('/v1/sites', 'name'),
  },
  {
    route: 'PATCH /v1/sites/{id}',
    method: 'PATCH',
    target: async (w) => ({ path: `/v1/sites/${w.siteA}` }),
    valid: () => ({ description: unique('changed') }),
    invalid: () => [{ name: 42 }, { description: 7 }, { description: 'bell\u0007' }, { defaultProfileId: {} }, { name: null }],
    unchanged: sameObject(),
  },
  {
    route: 'POST /v1/tokens',
    method: 'POST',
    target: async () => ({ path: '/v1/tokens' }),
    valid: () => ({ name: unique('input-token'), role: 'viewer' }),
    invalid: () => [
      { name: unique('t'), role: 'root' },
      { name: unique('t'), role: 'relay' },
      { name: unique('t'), role: 'viewer', siteIds: 'site_x' },
      { name: unique('t'), role: 'viewer', siteIds: [] },
      { name: unique('t'), role: 'viewer', expiresInSeconds: 'soon' },
      { name: unique('t'), role: 'viewer', expiresInSeconds: 1.5 },
      { name: unique('t'), role: 'viewer', expiresInSeconds: 10 },
      { role: 'viewer' },
    ],
    unchanged: noneNamed('/v1/tokens', 'name'),
  },
  {
    route: 'POST /v1/sites/{id}/enrollment-codes',
    method: 'POST',
    target: async (w) => ({ path: `/v1/sites/${w.siteA}/enrollment-codes` }),
    valid: () => ({ expiresInSeconds: 600 }),
    invalid: () => [{ expiresInSeconds: 'x' }, { expiresInSeconds: 59 }, { expiresInSeconds: 86401 }, { expiresInSeconds: null }],
    // Codes are never listed (only their hashes are kept); what a refused call could have made is a relay.
    unchanged: async (w) => {
      const before = await w.admin('GET', `/v1/relays?siteId=${w.siteA}`);
      return async () => expect((await w.admin('GET', `/v1/relays?siteId=${w.siteA}`)).body).toEqual(before.body);
    },
  },
  {
    route: 'POST /v1/relays/enroll',
    method: 'POST',
    target: async () => ({ path: '/v1/relays/enroll', token: null }),
    valid: async (w) => ({ code: await enrollmentCode(w.t, w.siteA), name: unique('input-relay') }),
    invalid: async (w) => {
      const code = await enrollmentCode(w.t, w.siteA);
      return [{ code: 5, name: 'r' }, { code, name: '' }, { code, name: 'r', address: 'relay.example' }, { code, name: 'r', version: 'a b' }, { code: 'x'.repeat(65), name: 'r' }, { name: 'r' }];
    },
    unchanged: noneNamed('/v1/relays', 'name'),
  },
  {
    route: 'POST /v1/relay/heartbeat',
    method: 'POST',
    target: async (w) => ({ path: '/v1/relay/heartbeat', token: w.relay.token }),
    valid: () => ({ version: unique('v') }),
    invalid: () => {
      const lan = { interface: 'eth0', subnet: '10.0.0.0/24', mode: 'dhcp', range: ['10.0.0.100', '10.0.0.199'], relayed: false };
      return [
        { version: 1 }, { version: '' }, { address: 'relay.example' }, { version: 'with space' },
        { lans: lan }, { lans: [{ ...lan, mode: 'full' }] }, { lans: [{ ...lan, subnet: '10.0.0.1/24' }] }, { lans: [{ ...lan, subnet: '10.0.0.0/33' }] },
        { lans: [{ ...lan, range: ['10.0.0.199', '10.0.0.100'] }] }, { lans: [{ ...lan, range: ['10.0.0.100', '10.0.1.1'] }] }, { lans: [{ ...lan, range: ['10.0.0.100'] }] },
        { lans: [{ ...lan, range: ['10.0.0.100', 'x'] }] }, { lans: [{ ...lan, relayed: 'no' }] }, { lans: [{ ...lan, extra: true }] }, { lans: [{ ...lan, interface: 'eth0; rm' }] },
        { lans: Array.from({ length: 33 }, () => lan) },
      ];
    },
    unchanged: async (w) => sameObject()(w, {}, `/v1/relays/${w.relay.relayId}`),
  },
];

export const accessIds: IdRoute[] = [
  { route: 'GET /v1/sites/{id}', method: 'GET', path: (id) => `/v1/sites/${id}`, unknownId: 'site_00000000000000000000000000' },
  { route: 'PATCH /v1/sites/{id}', method: 'PATCH', path: (id) => `/v1/sites/${id}`, unknownId: 'site_00000000000000000000000000', json: { description: 'x' } },
  { route: 'DELETE /v1/sites/{id}', method: 'DELETE', path: (id) => `/v1/sites/${id}`, unknownId: 'site_00000000000000000000000000' },
  { route: 'POST /v1/sites/{id}/enrollment-codes', method: 'POST', path: (id) => `/v1/sites/${id}/enrollment-codes`, unknownId: 'site_00000000000000000000000000', json: {} },
  { route: 'GET /v1/tokens/{id}', method: 'GET', path: (id) => `/v1/tokens/${id}`, unknownId: 'tok_zzzzzzzzzzzzzzzzzzzzzzzzzz' },
  { route: 'DELETE /v1/tokens/{id}', method: 'DELETE', path: (id) => `/v1/tokens/${id}`, unknownId: 'tok_zzzzzzzzzzzzzzzzzzzzzzzzzz' },
  { route: 'GET /v1/relays/{id}', method: 'GET', path: (id) => `/v1/relays/${id}`, unknownId: 'rly_00000000000000000000000000' },
  { route: 'DELETE /v1/relays/{id}', method: 'DELETE', path: (id) => `/v1/relays/${id}`, unknownId: 'rly_00000000000000000000000000' },
];

export const accessLists: ListRoute[] = [
  { route: '/v1/sites', path: '/v1/sites', bad: GENERIC_BAD_QUERY },
  { route: '/v1/tokens', path: '/v1/tokens', bad: GENERIC_BAD_QUERY },
  { route: '/v1/relays', path: '/v1/relays', bad: [...GENERIC_BAD_QUERY, `siteId=${'s'.repeat(65)}`] },
  { route: '/v1/audit', path: '/v1/audit', bad: ['limit=0', 'limit=501', 'cursor=abc', 'cursor=0', 'cursor=-5', 'since=yesterday', 'since=2026-13-01T00:00:00Z', `actor=${'a'.repeat(65)}`, 'colour=blue'] },
];
