import { describe, expect, it } from 'vitest';
import { createSite, createToken, enrollmentCode, enrollRelay } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

const CODE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/;

async function relaysOfSite(t: ApiTarget, siteId: string): Promise<{ id: string; name: string }[]> {
  const r = await call(t, 'GET', `/v1/relays?siteId=${siteId}&limit=500`);
  expect(r.status).toBe(200);
  return r.body.items;
}

export function relaysContract(target: () => ApiTarget) {
  describe('relays', () => {
    it('issues a typeable one-hour code and enrolls one relay with it, returning its credential once', async () => {
      const t = target();
      const site = await createSite(t);
      const before = Date.now();
      const created = await call(t, 'POST', `/v1/sites/${site}/enrollment-codes`, { json: {} });
      expect(created.status).toBe(201);
      expect(created.body.code).toMatch(CODE);
      expect(created.body.siteId).toBe(site);
      expect(Math.abs(Date.parse(created.body.expiresAt) - (before + 3600_000))).toBeLessThan(60_000);

      const name = unique('rack1');
      const enrolled = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code: created.body.code, name, version: '0.1.0', address: '10.0.0.5' } });
      expect(enrolled.status).toBe(201);
      expect(enrolled.body.relay).toMatchObject({ siteId: site, name, version: '0.1.0', address: '10.0.0.5', revokedAt: null });
      expect(enrolled.body.token).toMatch(/^ebr_[0-9a-z]{32}$/);

      const self = await call(t, 'GET', '/v1/relay/self', { token: enrolled.body.token });
      expect(self.status).toBe(200);
      expect(self.body.id).toBe(enrolled.body.relay.id);
      const got = await call(t, 'GET', `/v1/relays/${enrolled.body.relay.id}`);
      expect(got.status).toBe(200);
      expect(got.text).not.toContain(enrolled.body.token);

      // The relay's token is listed, role relay, limited to its site.
      const tokens = (await call(t, 'GET', '/v1/tokens?limit=500')).body.items as { role: string; relayId: string | null; siteIds: string[] }[];
      expect(tokens.find((x) => x.relayId === enrolled.body.relay.id)).toMatchObject({ role: 'relay', siteIds: [site] });
    });

    it('refuses a used enrollment code with 410', async () => {
      const t = target();
      const site = await createSite(t);
      const code = await enrollmentCode(t, site);
      expect((await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('r') } })).status).toBe(201);
      const again = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('r') } });
      expect(again.status).toBe(410);
      expect(errorCode(again)).toBe('gone');
      expect(await relaysOfSite(t, site)).toHaveLength(1);
    });

    it('enrolls exactly one relay when two enrollments race with one code', async () => {
      const t = target();
      const site = await createSite(t);
      const code = await enrollmentCode(t, site);
      const results = await Promise.all(
        [1, 2, 3, 4].map((i) => call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: `race-${i}` } })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 410, 410, 410]);
      for (const r of results.filter((x) => x.status === 410)) expect(errorCode(r)).toBe('gone');
      const relays = await relaysOfSite(t, site);
      expect(relays).toHaveLength(1);
      expect(relays[0]!.id).toBe(results.find((r) => r.status === 201)!.body.relay.id);
      const tokens = (await call(t, 'GET', '/v1/tokens?limit=500')).body.items as { relayId: string | null; siteIds: string[] | null }[];
      expect(tokens.filter((x) => x.siteIds?.[0] === site && x.relayId !== null)).toHaveLength(1);
    });

    it('refuses an unknown or malformed enrollment code with 401', async () => {
      const t = target();
      for (const code of ['AAAA-BBBB-CCCC-DDDD', 'not a code', 'U'.repeat(16)]) {
        const r = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('r') } });
        expect(r.status).toBe(401);
        expect(errorCode(r)).toBe('unauthorized');
      }
    });

    it('accepts a code typed in lower case, without dashes, with O for 0 and I or L for 1', async () => {
      const t = target();
      const site = await createSite(t);
      const code = await enrollmentCode(t, site);
      const typed = code.replace(/-/g, '').toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l');
      const r = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code: typed, name: unique('r') } });
      expect(r.status).toBe(201);
    });

    it('refuses a code lifetime over 24 hours', async () => {
      const t = target();
      const r = await call(t, 'POST', `/v1/sites/${await createSite(t)}/enrollment-codes`, { json: { expiresInSeconds: 86401 } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
    });

    it("lets a site's operator issue codes for its own site only", async () => {
      const t = target();
      const [own, other] = [await createSite(t), await createSite(t)];
      const op = await createToken(t, { role: 'operator', siteIds: [own] });
      expect((await call(t, 'POST', `/v1/sites/${own}/enrollment-codes`, { token: op.token, json: {} })).status).toBe(201);
      const refused = await call(t, 'POST', `/v1/sites/${other}/enrollment-codes`, { token: op.token, json: {} });
      expect(refused.status).toBe(404);
      expect(errorCode(refused)).toBe('not_found');
    });

    it('records heartbeats: last seen, version and address', async () => {
      const t = target();
      const { relayId, token } = await enrollRelay(t, await createSite(t));
      const before = (await call(t, 'GET', `/v1/relays/${relayId}`)).body;
      const hb = await call(t, 'POST', '/v1/relay/heartbeat', { token, json: { version: '2.0.0', address: 'fd00::5' } });
      expect(hb.status).toBe(200);
      expect(hb.body).toMatchObject({ id: relayId, version: '2.0.0', address: 'fd00::5' });
      const after = (await call(t, 'GET', `/v1/relays/${relayId}`)).body;
      expect(after).toMatchObject({ version: '2.0.0', address: 'fd00::5' });
      // Enrolled but never seen running until the first heartbeat (an install that stopped after enroll shows so).
      expect(before.lastSeenAt).toBeNull();
      expect(Date.parse(after.lastSeenAt)).toBeGreaterThan(0);
      // Fields left out keep their value.
      expect((await call(t, 'POST', '/v1/relay/heartbeat', { token, json: {} })).body).toMatchObject({ version: '2.0.0', address: 'fd00::5' });
    });

    it('stores the LANs a heartbeat reports, shows them on the relay, and keeps them when a heartbeat leaves them out', async () => {
      const t = target();
      const { relayId, token } = await enrollRelay(t, await createSite(t));
      expect((await call(t, 'GET', `/v1/relays/${relayId}`)).body).toMatchObject({ lans: null, conflicts: [] });
      const lans = [
        { interface: 'eth0', subnet: '10.20.0.0/24', mode: 'dhcp', range: ['10.20.0.100', '10.20.0.149'], relayed: false },
        { interface: null, subnet: '10.21.0.0/24', mode: 'dhcp', range: ['10.21.0.10', '10.21.0.20'], relayed: true },
      ];
      const hb = await call(t, 'POST', '/v1/relay/heartbeat', { token, json: { version: '2.1.0', lans } });
      expect(hb.status).toBe(200);
      expect(hb.body).toMatchObject({ id: relayId, lans, conflicts: [] });
      expect((await call(t, 'GET', `/v1/relays/${relayId}`)).body.lans).toEqual(lans);
      expect((await call(t, 'POST', '/v1/relay/heartbeat', { token, json: { version: '2.1.1' } })).body.lans).toEqual(lans);
      // An empty list is a report too: the relay serves no LAN now.
      expect((await call(t, 'POST', '/v1/relay/heartbeat', { token, json: { lans: [] } })).body.lans).toEqual([]);
    });

    it('reports two DHCP relays of one site with overlapping ranges on both, in the list, one by one and in the heartbeat answer', async () => {
      const t = target();
      const site = await createSite(t);
      const a = await enrollRelay(t, site);
      const b = await enrollRelay(t, site);
      const [nameA, nameB] = [(await call(t, 'GET', `/v1/relays/${a.relayId}`)).body.name, (await call(t, 'GET', `/v1/relays/${b.relayId}`)).body.name];
      await call(t, 'POST', '/v1/relay/heartbeat', { token: a.token, json: { lans: [{ interface: 'eth0', subnet: '10.30.0.0/24', mode: 'dhcp', range: ['10.30.0.100', '10.30.0.149'], relayed: false }] } });
      const hb = await call(t, 'POST', '/v1/relay/heartbeat', { token: b.token, json: { lans: [{ interface: 'eth1', subnet: '10.30.0.0/24', mode: 'dhcp', range: ['10.30.0.140', '10.30.0.199'], relayed: false }] } });
      expect(hb.status).toBe(200);
      expect(hb.body.conflicts).toEqual([{ relayId: a.relayId, relayName: nameA, subnet: '10.30.0.0/24', reason: 'ranges overlap: 10.30.0.140–10.30.0.199 and 10.30.0.100–10.30.0.149' }]);
      const listed = await relaysOfSite(t, site) as unknown as Array<{ id: string; conflicts: unknown[] }>;
      expect(listed.find((r) => r.id === a.relayId)!.conflicts).toEqual([{ relayId: b.relayId, relayName: nameB, subnet: '10.30.0.0/24', reason: 'ranges overlap: 10.30.0.100–10.30.0.149 and 10.30.0.140–10.30.0.199' }]);
      expect(listed.find((r) => r.id === b.relayId)!.conflicts).toHaveLength(1);
      expect((await call(t, 'GET', `/v1/relays/${a.relayId}`)).body.conflicts).toHaveLength(1);
      expect((await call(t, 'GET', '/v1/relay/self', { token: a.token })).body.conflicts).toHaveLength(1);

      // Split pools: B narrows its range to .150–.199 and both are clean.
      const fixed = await call(t, 'POST', '/v1/relay/heartbeat', { token: b.token, json: { lans: [{ interface: 'eth1', subnet: '10.30.0.0/24', mode: 'dhcp', range: ['10.30.0.150', '10.30.0.199'], relayed: false }] } });
      expect(fixed.body.conflicts).toEqual([]);
      expect((await call(t, 'GET', `/v1/relays/${a.relayId}`)).body.conflicts).toEqual([]);
    });

    it('sees no conflict between a proxy relay and a DHCP relay on one subnet, nor with a relay of another site', async () => {
      const t = target();
      const site = await createSite(t);
      const dhcp = await enrollRelay(t, site);
      const proxy = await enrollRelay(t, site);
      const elsewhere = await enrollRelay(t, await createSite(t));
      const lan = { interface: 'eth0', subnet: '10.31.0.0/24', mode: 'dhcp', range: ['10.31.0.100', '10.31.0.199'], relayed: false };
      await call(t, 'POST', '/v1/relay/heartbeat', { token: dhcp.token, json: { lans: [lan] } });
      await call(t, 'POST', '/v1/relay/heartbeat', { token: elsewhere.token, json: { lans: [lan] } });
      const hb = await call(t, 'POST', '/v1/relay/heartbeat', { token: proxy.token, json: { lans: [{ ...lan, mode: 'proxy', range: null }] } });
      expect(hb.body.conflicts).toEqual([]);
      for (const r of [dhcp, elsewhere]) expect((await call(t, 'GET', `/v1/relays/${r.relayId}`)).body.conflicts).toEqual([]);
    });

    it('stops counting a revoked relay: its sibling’s conflict goes away, and the revoked relay shows none', async () => {
      const t = target();
      const site = await createSite(t);
      const a = await enrollRelay(t, site);
      const b = await enrollRelay(t, site);
      const lan = { interface: 'eth0', subnet: '10.32.0.0/24', mode: 'dhcp', range: ['10.32.0.100', '10.32.0.199'], relayed: false };
      for (const r of [a, b]) await call(t, 'POST', '/v1/relay/heartbeat', { token: r.token, json: { lans: [lan] } });
      expect((await call(t, 'GET', `/v1/relays/${a.relayId}`)).body.conflicts).toHaveLength(1);
      expect((await call(t, 'DELETE', `/v1/relays/${b.relayId}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/relays/${a.relayId}`)).body.conflicts).toEqual([]);
      expect((await call(t, 'GET', `/v1/relays/${b.relayId}`)).body).toMatchObject({ lans: [lan], conflicts: [] });
    });

    it('keeps relay tokens to /v1/relay/ and people off it, with 403', async () => {
      const t = target();
      const site = await createSite(t);
      const { relayId, token } = await enrollRelay(t, site);
      for (const [method, path] of [['GET', `/v1/sites/${site}`], ['GET', `/v1/relays/${relayId}`], ['GET', '/v1/tokens'], ['POST', `/v1/sites/${site}/enrollment-codes`]] as const) {
        const r = await call(t, method, path, { token, json: method === 'POST' ? {} : undefined });
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(errorCode(r)).toBe('forbidden');
      }
      const human = await call(t, 'GET', '/v1/relay/self');
      expect(human.status).toBe(403);
      expect(errorCode(human)).toBe('forbidden');
    });

    it('revokes a relay and its token', async () => {
      const t = target();
      const { relayId, token } = await enrollRelay(t, await createSite(t));
      expect((await call(t, 'DELETE', `/v1/relays/${relayId}`)).status).toBe(204);
      const refused = await call(t, 'GET', '/v1/relay/self', { token });
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toBe('token revoked');
      expect((await call(t, 'GET', `/v1/relays/${relayId}`)).body.revokedAt).not.toBeNull();
    });

    it('lists relays by site, within what the token may see', async () => {
      const t = target();
      const [a, b] = [await createSite(t), await createSite(t)];
      const ra = await enrollRelay(t, a);
      const rb = await enrollRelay(t, b);
      expect((await relaysOfSite(t, a)).map((r) => r.id)).toEqual([ra.relayId]);
      const viewerA = await createToken(t, { role: 'viewer', siteIds: [a] });
      const seen = (await call(t, 'GET', '/v1/relays?limit=500', { token: viewerA.token })).body.items.map((r: { id: string }) => r.id);
      expect(seen).toContain(ra.relayId);
      expect(seen).not.toContain(rb.relayId);
      const filtered = await call(t, 'GET', `/v1/relays?siteId=${b}`, { token: viewerA.token });
      expect(filtered.status).toBe(200);
      expect(filtered.body.items).toEqual([]);
    });

    it('answers 404 for an unknown relay', async () => {
      const t = target();
      for (const method of ['GET', 'DELETE']) {
        const r = await call(t, method, '/v1/relays/rly_00000000000000000000000000');
        expect(r.status).toBe(404);
        expect(errorCode(r)).toBe('not_found');
      }
    });
  });
}
