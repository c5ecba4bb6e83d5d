/**
 * BMC and power-job objects for the contract suite: a relay with a registered sealing key, a machine
 * with a BMC whose password is sealed to it. Web-standard only (runs inside workerd too).
 */
import { generateRelayKeyPair, sealSecret, type RelayKeyPair } from '../../shared/crypto/seal.ts';
import { enrollRelay } from './fixtures.ts';
import { call, randomMac, type ApiTarget } from './target.ts';

export interface KeyedRelay {
  relayId: string;
  token: string;
  keys: RelayKeyPair;
}

export async function keyedRelay(t: ApiTarget, siteId: string): Promise<KeyedRelay> {
  const r = await enrollRelay(t, siteId);
  const keys = await generateRelayKeyPair();
  const res = await call(t, 'PUT', '/v1/relay/seal-key', { token: r.token, json: { publicKey: keys.publicKey } });
  if (res.status !== 200) throw new Error(`fixture: seal-key gave ${res.status}: ${res.text.slice(0, 200)}`);
  return { ...r, keys };
}

export interface BmcMachine {
  machineId: string;
  mac: string;
  relay: KeyedRelay;
}

export const BMC_PASSWORD = 'contract-bmc-pw-0xC0FFEE';

export async function bmcMachine(t: ApiTarget, siteId: string, relay?: KeyedRelay): Promise<BmcMachine> {
  const r = relay ?? (await keyedRelay(t, siteId));
  const mac = randomMac();
  const m = await call(t, 'POST', '/v1/machines', { json: { mac, siteId } });
  if (m.status !== 201) throw new Error(`fixture: machine gave ${m.status}`);
  const sealed = await sealSecret(BMC_PASSWORD, r.keys.publicKey, { machineId: m.body.id, relayId: r.relayId });
  const b = await call(t, 'PUT', `/v1/machines/${m.body.id}/bmc`, { json: { protocol: 'ipmi', address: '10.9.0.5:623', username: 'admin', credentials: [{ relayId: r.relayId, sealed }] } });
  if (b.status !== 200) throw new Error(`fixture: bmc set gave ${b.status}: ${b.text.slice(0, 200)}`);
  return { machineId: m.body.id, mac, relay: r };
}
