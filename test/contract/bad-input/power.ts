import { expect } from 'vitest';
import { generateRelayKeyPair, MAX_SEALED_LENGTH, sealSecret } from '../../../shared/crypto/seal.ts';
import { createSite, enrollRelay } from '../fixtures.ts';
import { BMC_PASSWORD, bmcMachine, keyedRelay, type BmcMachine } from '../power-fixtures.ts';
import { call, randomMac } from '../target.ts';
import { sameObject, type BodyEndpoint, type InputWorld } from './suite.ts';

/**
 * BMCs and power jobs (issue 15). The BMC and power-job cases each get their own machine with a BMC,
 * made once per world and endpoint (valid and target both need it: the sealed password is bound to
 * the machine's id); the result case gets a site of its own so its relay claims only its own job.
 */
const machines = new WeakMap<InputWorld, Map<string, Promise<BmcMachine>>>();
function machineOf(w: InputWorld, route: string): Promise<BmcMachine> {
  let perWorld = machines.get(w);
  if (!perWorld) machines.set(w, (perWorld = new Map()));
  let m = perWorld.get(route);
  if (!m) perWorld.set(route, (m = bmcMachine(w.t, w.siteA)));
  return m;
}

/** The relay enrolled by the seal-key case, per world. */
const fresh = new WeakMap<InputWorld, string>();

const SET_BMC = 'PUT /v1/machines/{idOrMac}/bmc';
const POWER = 'POST /v1/machines/{idOrMac}/power';

/** A sealed string of the right shape but one character over the limit. */
const tooLongSealed = `s1.${'A'.repeat(MAX_SEALED_LENGTH - 2)}`;

export const powerEndpoints: BodyEndpoint[] = [
  {
    route: SET_BMC,
    method: 'PUT',
    target: async (w) => ({ path: `/v1/machines/${(await machineOf(w, SET_BMC)).machineId}/bmc` }),
    // Another address and user than the fixture's, so a call that slipped through would show.
    valid: async (w) => {
      const m = await machineOf(w, SET_BMC);
      const sealed = await sealSecret(`${BMC_PASSWORD}-new`, m.relay.keys.publicKey, { machineId: m.machineId, relayId: m.relay.relayId });
      return { protocol: 'ipmi', address: '10.9.0.77:623', username: 'operator', credentials: [{ relayId: m.relay.relayId, sealed }] };
    },
    invalid: async (w) => {
      const m = await machineOf(w, SET_BMC);
      const cred = { relayId: m.relay.relayId, sealed: await sealSecret('pw', m.relay.keys.publicKey, { machineId: m.machineId, relayId: m.relay.relayId }) };
      const ipmi = { protocol: 'ipmi', address: '10.9.0.77', username: 'admin', credentials: [cred] };
      const redfish = { ...ipmi, protocol: 'redfish', address: 'https://10.9.0.77' };
      return [
        {},
        { ...ipmi, protocol: 'snmp' },
        { ...ipmi, protocol: null },
        { ...ipmi, address: 'not a host!' },
        { ...ipmi, address: '10.9.0.77:port' },
        { ...ipmi, address: '' },
        { ...ipmi, address: 'x'.repeat(257) },
        { ...redfish, address: 'ftp://10.9.0.77' },
        { ...redfish, address: '10.9.0.77' },
        { ...redfish, address: 'https://root:calvin@10.9.0.77' },
        { ...ipmi, username: '' },
        { ...ipmi, username: 'has space' },
        { ...ipmi, username: 'x'.repeat(65) },
        { ...ipmi, username: 5 },
        { ...ipmi, systemId: 'System.Embedded.1' },
        { ...ipmi, tlsFingerprint: 'ab'.repeat(32) },
        { ...redfish, systemId: '../Managers' },
        { ...redfish, tlsFingerprint: 'abc' },
        { ...redfish, tlsFingerprint: 'zz'.repeat(32) },
        { ...ipmi, credentials: [] },
        { ...ipmi, credentials: cred },
        { ...ipmi, credentials: Array.from({ length: 17 }, () => cred) },
        // A password in clear where a sealed one belongs: refused by its shape, never stored.
        { ...ipmi, credentials: [{ relayId: m.relay.relayId, sealed: BMC_PASSWORD }] },
        { ...ipmi, credentials: [{ relayId: m.relay.relayId, sealed: tooLongSealed }] },
        { ...ipmi, credentials: [{ relayId: m.relay.relayId }] },
        { ...ipmi, credentials: [{ relayId: '', sealed: cred.sealed }] },
        { ...ipmi, credentials: [{ relayId: 'x'.repeat(65), sealed: cred.sealed }] },
        { ...ipmi, credentials: [{ ...cred, password: 'x' }] },
        { ...ipmi, password: BMC_PASSWORD },
      ];
    },
    unchanged: sameObject(),
  },
  {
    route: POWER,
    method: 'POST',
    target: async (w) => ({ path: `/v1/machines/${(await machineOf(w, POWER)).machineId}/power` }),
    valid: () => ({ action: 'status', deadlineSeconds: 60 }),
    invalid: () => [
      {},
      { action: 'explode' },
      { action: 'ON' },
      { action: 5 },
      { action: null },
      { action: 'on', deadlineSeconds: 4 },
      { action: 'on', deadlineSeconds: 86_401 },
      { action: 'on', deadlineSeconds: 1.5 },
      { action: 'on', deadlineSeconds: '60' },
      { action: 'on', deadlineSeconds: -60 },
    ],
    // No job was queued: the machine's job list reads the same (empty) afterwards.
    unchanged: sameObject((p) => p.replace(/\/power$/, '/power-jobs')),
  },
  {
    route: 'PUT /v1/relay/seal-key',
    method: 'PUT',
    // A relay enrolled for this case, with no key yet: any refused body that registered one would show.
    target: async (w) => {
      const r = await enrollRelay(w.t, w.siteA);
      fresh.set(w, r.relayId);
      return { path: '/v1/relay/seal-key', token: r.token };
    },
    valid: async () => ({ publicKey: (await generateRelayKeyPair()).publicKey }),
    invalid: async () => {
      const key = (await generateRelayKeyPair()).publicKey;
      return [
        {},
        { publicKey: null },
        { publicKey: 32 },
        { publicKey: '' },
        { publicKey: key.slice(0, 42) },
        { publicKey: `${key}A` },
        { publicKey: `${key.slice(0, 42)}+` },
        { publicKey: `${key.slice(0, 42)}=` },
        { publicKey: [key] },
        { publicKey: key, privateKey: key },
      ];
    },
    // Read through a machine of the site: its recipients are the relays with a registered key.
    unchanged: async (w) => {
      const m = await call(w.t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: w.siteA } });
      expect(m.status).toBe(201);
      const keyed = async () => ((await w.admin('GET', `/v1/machines/${m.body.id}/bmc/recipients`)).body.relays as { relayId: string }[]).map((r) => r.relayId);
      expect(await keyed()).not.toContain(fresh.get(w));
      return async () => expect(await keyed()).not.toContain(fresh.get(w));
    },
  },
  {
    route: 'POST /v1/relay/power-jobs/{id}/result',
    method: 'POST',
    // A job this relay took and has not reported: the only state in which a valid report is accepted.
    target: async (w) => {
      const site = await createSite(w.t);
      const m = await bmcMachine(w.t, site, await keyedRelay(w.t, site));
      const job = await w.admin('POST', `/v1/machines/${m.machineId}/power`, { action: 'status' });
      expect(job.status).toBe(202);
      const taken = await call(w.t, 'GET', '/v1/relay/power-jobs?max=16', { token: m.relay.token });
      expect(taken.body.jobs.map((j: { id: string }) => j.id)).toEqual([job.body.id]);
      return { path: `/v1/relay/power-jobs/${job.body.id}/result`, token: m.relay.token };
    },
    valid: () => ({ ok: true, powerState: 'on', durationMs: 42, detail: { driver: 'ipmitool' } }),
    invalid: () => [
      {},
      { durationMs: 42 },
      { ok: 'yes', durationMs: 42 },
      { ok: true },
      { ok: true, durationMs: -1 },
      { ok: true, durationMs: 1.5 },
      { ok: true, durationMs: 3_600_001 },
      { ok: true, durationMs: '42' },
      { ok: true, durationMs: 42, powerState: 'dim' },
      { ok: false, durationMs: 42, error: '' },
      { ok: false, durationMs: 42, error: 'x'.repeat(513) },
      { ok: false, durationMs: 42, error: 7 },
      { ok: true, durationMs: 42, detail: 'ipmitool' },
      { ok: true, durationMs: 42, detail: { nested: { a: 1 } } },
      { ok: true, durationMs: 42, detail: { long: 'x'.repeat(257) } },
      { ok: true, durationMs: 42, detail: { ['k'.repeat(65)]: 1 } },
      { ok: true, durationMs: 42, detail: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, i])) },
    ],
    // The job, as people see it, is still running with no result.
    unchanged: async (w, _valid, path) => {
      const jobPath = path.replace('/v1/relay/power-jobs/', '/v1/power-jobs/').replace(/\/result$/, '');
      const before = await w.admin('GET', jobPath);
      expect(before.body.state).toBe('running');
      return async () => expect((await w.admin('GET', jobPath)).body).toEqual(before.body);
    },
  },
];
