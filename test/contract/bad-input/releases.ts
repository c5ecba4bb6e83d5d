import { expect } from 'vitest';
import { published, uniqueVersion } from '../releases-fixtures.ts';
import type { BodyEndpoint } from './suite.ts';

/** The desired versions as admin: a refused call must leave them as they were. */
const desiredUnchanged = async (w: Parameters<BodyEndpoint['unchanged']>[0]) => {
  const before = (await w.admin('GET', '/v1/relay-releases/desired')).body;
  return async () => expect((await w.admin('GET', '/v1/relay-releases/desired')).body).toEqual(before);
};

export const releaseEndpoints: BodyEndpoint[] = [
  {
    route: 'PUT /v1/relay-releases/desired',
    method: 'PUT',
    target: async () => ({ path: '/v1/relay-releases/desired' }),
    // A site pin (the fleet's choice is shared by every case of the target).
    valid: async (w) => ({ version: (await published(w.t, uniqueVersion())).statement.version, siteId: w.siteA }),
    invalid: () => [
      {},
      { version: 5 },
      { version: 'latest' },
      { version: '1.0' },
      { version: '1.0.0; rm -rf /' },
      { version: `1.0.0-${'x'.repeat(64)}` },
      { version: null, siteId: '' },
      { version: null, siteId: 'x'.repeat(65) },
      { version: null, siteId: 7 },
    ],
    unchanged: (w) => desiredUnchanged(w),
  },
  {
    route: 'POST /v1/relay/update-state',
    method: 'POST',
    target: async (w) => ({ path: '/v1/relay/update-state', token: w.relay.token }),
    valid: () => ({ state: 'refused', version: uniqueVersion(), reason: 'the release is for arm64, this relay runs on x64' }),
    invalid: () => [
      {},
      { state: 'exploded', version: '1.0.0' },
      { state: 'updated' },
      { state: 'updated', version: 'has space' },
      { state: 'refused', version: '1.0.0', reason: 5 },
      { state: 'refused', version: '1.0.0', reason: 'x'.repeat(10_000) },
    ],
    unchanged: async (w, valid) => {
      const relay = async () => (await w.admin('GET', `/v1/relays/${w.relay.relayId}`)).body;
      expect((await relay()).update?.version).not.toBe(valid.version);
      return async () => expect((await relay()).update?.version).not.toBe(valid.version);
    },
  },
];
