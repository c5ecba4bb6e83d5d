import { expect } from 'vitest';
import { generateRelayKeyPair, sealSecret, type RelayKeyPair } from '../../../shared/crypto/seal.ts';
import { bmcMachine, type BmcMachine } from '../power-fixtures.ts';
import { call } from '../target.ts';
import { relayOnly, siteRead, siteWrite, type Row, type World } from './matrix.ts';

const bmcOf = async (w: World, id: string) => call(w.t, 'GET', `/v1/machines/${id}/bmc`);
const jobsOf = async (w: World, id: string): Promise<any[]> => (await call(w.t, 'GET', `/v1/machines/${id}/power-jobs`)).body.items;

/** relayA's sealing key: registered by the first cell that needs it, the same key ever after. */
const relayKeys = new Map<string, Promise<RelayKeyPair>>();
const keyOf = (relayId: string) => relayKeys.get(relayId) ?? relayKeys.set(relayId, generateRelayKeyPair()).get(relayId)!;

export const powerRows: Row[] = [
  {
    route: 'GET /v1/machines/{idOrMac}/bmc/recipients',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => bmcMachine(w.t, w.sites[site]),
    request: (_w, _s, m: BmcMachine) => ({ method: 'GET', path: `/v1/machines/${m.machineId}/bmc/recipients` }),
  },
  {
    route: 'GET /v1/machines/{idOrMac}/bmc',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => bmcMachine(w.t, w.sites[site]),
    request: (_w, _s, m: BmcMachine) => ({ method: 'GET', path: `/v1/machines/${m.machineId}/bmc` }),
  },
  {
    route: 'PUT /v1/machines/{idOrMac}/bmc',
    sites: 'each',
    expect: siteWrite(200),
    setup: async (w, site) => {
      const m = await bmcMachine(w.t, w.sites[site]);
      return { m, sealed: await sealSecret('new', m.relay.keys.publicKey, { machineId: m.machineId, relayId: m.relay.relayId }) };
    },
    request: (_w, _s, { m, sealed }: { m: BmcMachine; sealed: string }) => ({
      method: 'PUT',
      path: `/v1/machines/${m.machineId}/bmc`,
      json: { protocol: 'ipmi', address: '10.9.0.6', username: 'changed', credentials: [{ relayId: m.relay.relayId, sealed }] },
    }),
    after: async (w, _s, { m }: { m: BmcMachine }, { ok }) => expect((await bmcOf(w, m.machineId)).body.username).toBe(ok ? 'changed' : 'admin'),
  },
  {
    route: 'DELETE /v1/machines/{idOrMac}/bmc',
    sites: 'each',
    expect: siteWrite(204),
    setup: (w, site) => bmcMachine(w.t, w.sites[site]),
    request: (_w, _s, m: BmcMachine) => ({ method: 'DELETE', path: `/v1/machines/${m.machineId}/bmc` }),
    after: async (w, _s, m: BmcMachine, { ok }) => expect((await bmcOf(w, m.machineId)).status).toBe(ok ? 404 : 200),
  },
  {
    route: 'POST /v1/machines/{idOrMac}/power',
    sites: 'each',
    expect: siteWrite(202),
    setup: (w, site) => bmcMachine(w.t, w.sites[site]),
    request: (_w, _s, m: BmcMachine) => ({ method: 'POST', path: `/v1/machines/${m.machineId}/power`, json: { action: 'status' } }),
    after: async (w, _s, m: BmcMachine, { ok }) => expect((await jobsOf(w, m.machineId)).length).toBe(ok ? 1 : 0),
  },
  {
    route: 'GET /v1/machines/{idOrMac}/power-jobs',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => bmcMachine(w.t, w.sites[site]),
    request: (_w, _s, m: BmcMachine) => ({ method: 'GET', path: `/v1/machines/${m.machineId}/power-jobs` }),
  },
  {
    route: 'GET /v1/power-jobs/{id}',
    sites: 'each',
    expect: siteRead(200),
    setup: async (w, site) => {
      const m = await bmcMachine(w.t, w.sites[site]);
      return (await call(w.t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'status' } })).body.id as string;
    },
    request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/power-jobs/${id}` }),
  },
  {
    route: 'PUT /v1/relay/seal-key',
    sites: 'none',
    expect: relayOnly(200),
    setup: async (w) => (await keyOf(w.relays.A)).publicKey,
    request: (_w, _s, publicKey: string) => ({ method: 'PUT', path: '/v1/relay/seal-key', json: { publicKey } }),
  },
  {
    route: 'GET /v1/relay/power-jobs',
    sites: 'none',
    expect: relayOnly(200),
    request: () => ({ method: 'GET', path: '/v1/relay/power-jobs?max=1' }),
  },
  {
    route: 'POST /v1/relay/power-jobs/{id}/result',
    sites: 'none',
    expect: relayOnly(200),
    setup: async (w) => {
      // A job of site A running for relayA: relayA's key, a machine sealed to it, the job taken by relayA.
      const keys = await keyOf(w.relays.A);
      await call(w.t, 'PUT', '/v1/relay/seal-key', { token: w.tokens.relayA, json: { publicKey: keys.publicKey } });
      const m = await bmcMachine(w.t, w.sites.A, { relayId: w.relays.A, token: w.tokens.relayA, keys });
      const id = (await call(w.t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'off' } })).body.id as string;
      for (let i = 0; i < 20; i++) {
        const got = (await call(w.t, 'GET', '/v1/relay/power-jobs?max=16', { token: w.tokens.relayA })).body.jobs.map((j: any) => j.id);
        if (got.includes(id) || got.length === 0) break;
      }
      return id;
    },
    request: (_w, _s, id: string) => ({ method: 'POST', path: `/v1/relay/power-jobs/${id}/result`, json: { ok: true, powerState: 'off', durationMs: 3 } }),
    after: async (w, _s, id: string, { ok }) => expect((await call(w.t, 'GET', `/v1/power-jobs/${id}`)).body.state).toBe(ok ? 'succeeded' : 'running'),
  },
];
