import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayLan } from '../../shared/schemas/access.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient, type CloudClient } from '../../relay/src/sync/cloud-client.ts';
import { startHeartbeat } from '../../relay/src/sync/heartbeat.ts';
import { call } from '../contract/target.ts';
import { until } from './support/relay-harness.ts';
import { createSite, enrolledCredentials, startTestCloud, type TestCloud } from './support/test-cloud.ts';

/**
 * The relay's heartbeat loop (relay/src/sync/heartbeat.ts) against the real cloud app (test-cloud.ts):
 * it reports the relay's LANs and hears back which sibling relays collide with them.
 */
let cloud: TestCloud;
const clients: CloudClient[] = [];

beforeAll(async () => {
  cloud = await startTestCloud();
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await cloud?.close();
});

const lan = (first: string, last: string): RelayLan => ({ interface: 'eth0', subnet: '10.60.0.0/24', mode: 'dhcp', range: [first, last], relayed: false });

async function relayOf(siteId: string) {
  const creds = await enrolledCredentials(cloud, siteId);
  const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
  clients.push(client);
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { creds, client, log, lines };
}

describe('relay heartbeat', () => {
  it('reports its LANs, and logs and counts the sibling relay whose DHCP range overlaps its own', async () => {
    const site = await createSite(cloud);
    const a = await relayOf(site);
    const b = await relayOf(site);
    const hbA = startHeartbeat(a.client, a.log, { version: '9.9.9', lans: [lan('10.60.0.100', '10.60.0.160')] }, 50);
    const hbB = startHeartbeat(b.client, b.log, { version: '9.9.9', lans: [lan('10.60.0.150', '10.60.0.199')] }, 50);
    try {
      const seen = await until('B hears of A', () => (hbB.conflicts().length > 0 ? hbB.conflicts() : null));
      expect(seen).toEqual([{ relayId: a.creds.relayId, relayName: expect.any(String), subnet: '10.60.0.0/24', reason: 'ranges overlap: 10.60.0.150–10.60.0.199 and 10.60.0.100–10.60.0.160' }]);
      await until('A hears of B', () => hbA.conflicts().length === 1 || null);
      const warned = await until('B logs it', () => b.lines.find((l) => l.reason === `lan-conflict:${a.creds.relayId}:10.60.0.0/24`));
      expect(warned).toMatchObject({ level: 'warn', subnet: '10.60.0.0/24', conflict: 'ranges overlap: 10.60.0.150–10.60.0.199 and 10.60.0.100–10.60.0.160' });
      // Logged once a minute at most, however often the heartbeat says it.
      await until('more heartbeats', () => cloud.requests.filter((r) => r.path === '/v1/relay/heartbeat').length > 8 || null);
      expect(b.lines.filter((l) => l.reason === `lan-conflict:${a.creds.relayId}:10.60.0.0/24`)).toHaveLength(1);
      expect((await call(cloud, 'GET', `/v1/relays/${b.creds.relayId}`)).body.lans).toEqual([lan('10.60.0.150', '10.60.0.199')]);
    } finally {
      await hbA();
      await hbB.stop();
    }
  });

  it('hears no conflict with split pools, and says so when one is fixed', async () => {
    const site = await createSite(cloud);
    const a = await relayOf(site);
    const b = await relayOf(site);
    const hbA = startHeartbeat(a.client, a.log, { lans: [lan('10.60.0.100', '10.60.0.160')] }, 50);
    const body = { lans: [lan('10.60.0.100', '10.60.0.199')] };
    const hbB = startHeartbeat(b.client, b.log, body, 50);
    try {
      await until('the overlap is seen', () => hbB.conflicts().length === 1 || null);
      body.lans = [lan('10.60.0.161', '10.60.0.199')];
      await until('the fix is seen', () => hbB.conflicts().length === 0 || null);
      await until('A sees it too', () => hbA.conflicts().length === 0 || null);
      expect(b.lines.some((l) => l.msg === 'no more LAN conflicts with other relays of this site')).toBe(true);
    } finally {
      await hbA();
      await hbB();
    }
  });
});
