import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, succeeding, type Cli } from './support.ts';

/**
 * `edgeboot relays list|show` with two relays of one site (issue 14): their LANs as last reported,
 * and the conflicts the cloud finds between them. The CLI process against the Node entry; the relays'
 * heartbeats are sent with their own tokens, as relays do.
 */
describe('edgeboot relays with two relays per site (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  const { ok, okJson } = succeeding(() => cli);

  beforeAll(async () => {
    entry = await startCloud('cli-relays-lans');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  async function relay(site: string, name: string, lans: unknown[]): Promise<{ id: string; token: string }> {
    const code = await okJson('relays', 'enroll-code', site);
    const e = await api(entry, 'POST', '/v1/relays/enroll', { code: code.code, name, version: '1.4.0' }, null);
    expect(e.status).toBe(201);
    expect((await api(entry, 'POST', '/v1/relay/heartbeat', { lans }, e.body.token)).status).toBe(200);
    return { id: e.body.relay.id, token: e.body.token };
  }

  it('lists both relays of a site with their LANs, and the overlap of their DHCP ranges on both', async () => {
    await ok('sites', 'create', 'nantes');
    const a = await relay('nantes', 'nantes-a', [{ interface: 'eth0', subnet: '10.40.0.0/24', mode: 'dhcp', range: ['10.40.0.100', '10.40.0.160'], relayed: false }]);
    const b = await relay('nantes', 'nantes-b', [{ interface: 'eth1', subnet: '10.40.0.0/24', mode: 'dhcp', range: ['10.40.0.150', '10.40.0.199'], relayed: false }]);
    const out = (await ok('relays', 'list', '--site', 'nantes')).stdout;
    expect(out).toMatch(new RegExp(`^nantes-a\\s+${a.id}\\s+nantes\\s+online\\s+`, 'm'));
    expect(out).toMatch(new RegExp(`^nantes-b\\s+${b.id}\\s+nantes\\s+online\\s+`, 'm'));
    expect(out).toContain('\nLANs:\n  nantes-a  eth0 10.40.0.0/24 dhcp 10.40.0.100–10.40.0.160\n  nantes-b  eth1 10.40.0.0/24 dhcp 10.40.0.150–10.40.0.199\n');
    expect(out).toContain(
      '\nconflicts:\n  nantes-a ↔ nantes-b  10.40.0.0/24: ranges overlap: 10.40.0.100–10.40.0.160 and 10.40.0.150–10.40.0.199\n' +
        '  nantes-b ↔ nantes-a  10.40.0.0/24: ranges overlap: 10.40.0.150–10.40.0.199 and 10.40.0.100–10.40.0.160\n',
    );
    const listed = await okJson<Array<{ id: string; conflicts: Array<{ relayId: string }> }>>('relays', 'list', '--site', 'nantes');
    expect(listed.find((r) => r.id === a.id)!.conflicts.map((c) => c.relayId)).toEqual([b.id]);
    expect((await ok('relays', 'show', 'nantes-b')).stdout).toMatch(new RegExp(`^conflicts:\\s+nantes-a \\(${a.id}\\) 10\\.40\\.0\\.0/24: ranges overlap: 10\\.40\\.0\\.150–10\\.40\\.0\\.199 and 10\\.40\\.0\\.100–10\\.40\\.0\\.160$`, 'm'));

    // Split pools: B takes .161–.199, and the conflicts section goes away.
    await api(entry, 'POST', '/v1/relay/heartbeat', { lans: [{ interface: 'eth1', subnet: '10.40.0.0/24', mode: 'dhcp', range: ['10.40.0.161', '10.40.0.199'], relayed: false }] }, b.token);
    const fixed = (await ok('relays', 'list', '--site', 'nantes')).stdout;
    expect(fixed).toContain('  nantes-b  eth1 10.40.0.0/24 dhcp 10.40.0.161–10.40.0.199\n');
    expect(fixed).not.toContain('conflicts:');
    expect((await ok('relays', 'show', 'nantes-a')).stdout).toMatch(/^conflicts:\s+none$/m);
  });

  it('shows a proxy relay beside a DHCP relay without a conflict, and a relay that never reported its LANs as such', async () => {
    await ok('sites', 'create', 'brest');
    await relay('brest', 'brest-dhcp', [{ interface: 'eth0', subnet: '10.41.0.0/24', mode: 'dhcp', range: ['10.41.0.100', '10.41.0.199'], relayed: false }]);
    await relay('brest', 'brest-proxy', [{ interface: 'eth0', subnet: '10.41.0.0/24', mode: 'proxy', range: null, relayed: false }]);
    const code = await okJson('relays', 'enroll-code', 'brest');
    expect((await api(entry, 'POST', '/v1/relays/enroll', { code: code.code, name: 'brest-old' }, null)).status).toBe(201);
    const out = (await ok('relays', 'list', '--site', 'brest')).stdout;
    expect(out).toContain('\nLANs:\n  brest-dhcp  eth0 10.41.0.0/24 dhcp 10.41.0.100–10.41.0.199\n  brest-proxy  eth0 10.41.0.0/24 proxy\n');
    expect(out).not.toContain('conflicts:');
    expect((await ok('relays', 'show', 'brest-old')).stdout).toMatch(/^LANs:\s+never reported$/m);
  });
});
