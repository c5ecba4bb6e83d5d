import { beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollRelay } from '../fixtures.ts';
import { call, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

export function syncContract(target: () => ApiTarget): void {
  describe('relay sync', () => {
    let t: ApiTarget;
    let site: string;
    let relay: { relayId: string; token: string };
    let bootProfile: string;
    beforeAll(async () => {
      t = target();
      site = await createSite(t);
      relay = await enrollRelay(t, site);
      bootProfile = (await call(t, 'POST', '/v1/profiles', { json: { name: unique('sync-p'), spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } } })).body.id;
    });
    const sync = (headers: Record<string, string> = {}, query = '', token = relay.token) => call(t, 'GET', `/v1/relay/sync${query}`, { token, headers });
    const admin = async (method: string, path: string, json?: unknown) => {
      const r = await call(t, method, path, { json });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
      return r.body;
    };
    const entry = (r: CallResult, mac: string) => r.body.machines.find((m: any) => m.mac === mac);

    it("lists the site's machines with their netboot decision, pending MACs, and the default for unknown ones", async () => {
      const assigned = randomMac();
      const idle = randomMac();
      const pending = randomMac();
      const elsewhere = randomMac();
      const other = await createSite(t);
      const m = await admin('POST', '/v1/machines', { mac: assigned, siteId: site, arch: 'uefi-x64' });
      await admin('POST', '/v1/machines', { mac: idle, siteId: site, state: 'ready' });
      await admin('POST', '/v1/machines', { mac: elsewhere, siteId: other });
      await admin('POST', '/v1/assignments', { profileId: bootProfile, selector: { machineId: m.id } });
      await admin('POST', '/v1/assignments', { profileId: bootProfile, selector: { mac: pending } });
      await admin('POST', '/v1/assignments', { profileId: bootProfile, selector: { mac: elsewhere } });
      const r = await sync();
      expect(r.status, r.text).toBe(200);
      expect(r.body.siteId).toBe(site);
      expect(r.headers.get('etag')).toBe(`"${r.body.version}"`);
      expect(entry(r, assigned)).toEqual({ mac: assigned, machineId: m.id, arch: 'uefi-x64', netboot: true });
      expect(entry(r, idle)).toMatchObject({ arch: null, netboot: false });
      expect(entry(r, pending)).toEqual({ mac: pending, machineId: null, arch: null, netboot: true });
      expect(entry(r, elsewhere)).toBeUndefined();
      expect(r.body.unknownMachines).toEqual({ netboot: false });
      const macs = r.body.machines.map((x: any) => x.mac);
      expect(macs).toEqual([...macs].sort());
    });

    it('answers 304 to its own ETag (strong or weak), and a new ETag once the site changes', async () => {
      const first = await sync();
      const etag = first.headers.get('etag')!;
      const same = await sync({ 'if-none-match': etag });
      expect(same.status).toBe(304);
      expect(same.text).toBe('');
      expect(same.headers.get('etag')).toBe(etag);
      expect((await sync({ 'if-none-match': `W/${etag}, "other"` })).status).toBe(304);
      expect((await sync({ 'if-none-match': '"stale"' })).status).toBe(200);
      await admin('PATCH', `/v1/sites/${site}`, { defaultProfileId: bootProfile });
      const changed = await sync({ 'if-none-match': etag });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      expect(changed.body.unknownMachines).toEqual({ netboot: true });
      await admin('PATCH', `/v1/sites/${site}`, { defaultProfileId: null });
      expect((await sync()).headers.get('etag')).toBe(etag);
    });

    it('lists the architectures a machine netboots on when an assignment names one', async () => {
      const s = await createSite(t);
      const r2 = await enrollRelay(t, s);
      const mac = randomMac();
      await admin('POST', '/v1/machines', { mac, siteId: s, state: 'ready' });
      await admin('POST', '/v1/assignments', { profileId: bootProfile, selector: { siteId: s, arch: 'uefi-arm64' } });
      const r = await sync({}, '', r2.token);
      expect(entry(r, mac).netboot).toEqual(['uefi-arm64']);
    });

    it('long-polls: holds the request and answers 304 when nothing changed within the wait', async () => {
      const etag = (await sync()).headers.get('etag')!;
      const started = Date.now();
      const r = await sync({ 'if-none-match': etag }, '?wait=1');
      const took = Date.now() - started;
      expect(r.status).toBe(304);
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(5000);
    });

    it('long-polls: answers within about a second of a change made during the wait', async () => {
      const etag = (await sync()).headers.get('etag')!;
      const mac = randomMac();
      const started = Date.now();
      const polling = sync({ 'if-none-match': etag }, '?wait=20');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await admin('POST', '/v1/machines', { mac, siteId: site });
      const changedAt = Date.now();
      const r = await polling;
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('etag')).not.toBe(etag);
      expect(entry(r, mac)).toBeDefined();
      expect(Date.now() - changedAt).toBeLessThan(2500);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('answers at once when the ETag is already stale, whatever the wait', async () => {
      const started = Date.now();
      const r = await sync({ 'if-none-match': '"old"' }, '?wait=30');
      expect(r.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('refuses a wait over 30 seconds or not a number', async () => {
      for (const q of ['?wait=31', '?wait=-1', '?wait=soon', '?wait=1.5', '?colour=blue']) expect((await sync({}, q)).status, q).toBe(400);
    });
  });
}
