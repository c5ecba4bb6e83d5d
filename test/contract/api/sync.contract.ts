import { beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PAGE_MACHINES } from '../../../shared/sync/paging.ts';
import { SYNC_FEATURES, SYNC_FEATURES_HEADER } from '../../../shared/sync/features.ts';
import { createSite, enrollRelay } from '../fixtures.ts';
import { bmcMachine, keyedRelay } from '../power-fixtures.ts';
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
    /** A machine's entry in a full snapshot, or in a delta's upserts. */
    const entry = (r: CallResult, mac: string) => (r.body.machines ?? r.body.upsert).find((m: any) => m.mac === mac);

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

/**
 * Issue 16: sync that scales with changes, not with relays. A change wakes only the relays of the
 * sites whose snapshot it changed; a relay that holds a version of its own site gets a delta; a big
 * site is paged; a relay in a tight loop is told to back off. Waits are generous and the assertions
 * are about which answer comes first, not how fast.
 */
export function syncFleetContract(target: () => ApiTarget): void {
  describe('relay sync per site (issue 16)', () => {
    let t: ApiTarget;
    beforeAll(() => {
      t = target();
    });
    const admin = async (method: string, path: string, json?: unknown) => {
      const r = await call(t, method, path, { json });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
      return r.body;
    };
    /** As a relay of issue 16 or later asks (it reads deltas and pages); `features: ''` as one released before. */
    const sync = (token: string, etag?: string, wait?: number, features = SYNC_FEATURES.join(', ')) =>
      call(t, 'GET', `/v1/relay/sync${wait === undefined ? '' : `?wait=${wait}`}`, {
        token,
        headers: { ...(etag ? { 'if-none-match': etag } : {}), ...(features ? { [SYNC_FEATURES_HEADER]: features } : {}) },
      });
    /** A site with its relay and the relay's current ETag. */
    const siteWithRelay = async () => {
      const site = await createSite(t);
      const relay = await enrollRelay(t, site);
      const first = await sync(relay.token);
      expect(first.status, first.text).toBe(200);
      return { site, relay, snapshot: first.body, etag: first.headers.get('etag')! };
    };
    /** Which of two pending answers comes first, with both answers. */
    const firstOf = async (a: Promise<CallResult>, b: Promise<CallResult>) => {
      const winner = await Promise.race([a.then(() => 'a' as const), b.then(() => 'b' as const)]);
      return { winner, a: await a, b: await b };
    };
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

    it("wakes the waiting relay of the site that changed with its new snapshot, and not another site's", async () => {
      const lyon = await siteWithRelay();
      const paris = await siteWithRelay();
      const mac = randomMac();
      const lyonWaits = sync(lyon.relay.token, lyon.etag, 25);
      const parisWaits = sync(paris.relay.token, paris.etag, 4);
      await settle();
      await admin('POST', '/v1/machines', { mac, siteId: lyon.site });
      const r = await firstOf(lyonWaits, parisWaits);
      expect(r.winner).toBe('a');
      expect(r.a.status, r.a.text).toBe(200);
      expect([...(r.a.body.machines ?? r.a.body.upsert)].map((m: any) => m.mac)).toEqual([mac]);
      expect(r.a.headers.get('etag')).not.toBe(lyon.etag);
      // Paris held its request for its whole wait and answers "unchanged".
      expect(r.b.status).toBe(304);
      expect(r.b.headers.get('etag')).toBe(paris.etag);
    });

    it('wakes on a profile edit only the relays of sites whose decisions it changes', async () => {
      const profile = await admin('POST', '/v1/profiles', { name: unique('fleet-p'), spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } });
      const uses = await siteWithRelay();
      const other = await siteWithRelay();
      await admin('PATCH', `/v1/sites/${uses.site}`, { defaultProfileId: profile.id });
      const before = await sync(uses.relay.token);
      expect(before.body.unknownMachines).toEqual({ netboot: true });
      const usesWaits = sync(uses.relay.token, before.headers.get('etag')!, 25);
      const otherWaits = sync(other.relay.token, other.etag, 4);
      await settle();
      await admin('PATCH', `/v1/profiles/${profile.id}`, { spec: { kind: 'local' } });
      const r = await firstOf(usesWaits, otherWaits);
      expect(r.winner).toBe('a');
      expect(r.a.status, r.a.text).toBe(200);
      expect(r.a.body.unknownMachines).toEqual({ netboot: false });
      expect(r.b.status).toBe(304);
    });

    it('sends a delta against the version the relay holds, which applied gives the full snapshot', async () => {
      const s = await siteWithRelay();
      const kept = randomMac();
      const dropped = randomMac();
      await admin('POST', '/v1/machines', { mac: kept, siteId: s.site, state: 'ready' });
      const gone = await admin('POST', '/v1/machines', { mac: dropped, siteId: s.site });
      const base = await sync(s.relay.token);
      const added = randomMac();
      await admin('POST', '/v1/machines', { mac: added, siteId: s.site, arch: 'bios' });
      await admin('DELETE', `/v1/machines/${gone.id}`);
      const r = await sync(s.relay.token, base.headers.get('etag')!);
      expect(r.status, r.text).toBe(200);
      expect(r.body.base).toBe(base.body.version);
      expect(r.body.upsert).toEqual([{ mac: added, machineId: expect.any(String), arch: 'bios', netboot: false }]);
      expect(r.body.remove).toEqual([dropped]);
      expect(r.body.machines).toBeUndefined();
      expect(r.headers.get('etag')).toBe(`"${r.body.version}"`);
      // The relay's result: its snapshot minus `remove`, plus `upsert`, by MAC — the cloud's full one.
      const full = await sync(s.relay.token);
      const applied = [...base.body.machines.filter((m: any) => !r.body.remove.includes(m.mac)), ...r.body.upsert].sort((a: any, b: any) => (a.mac < b.mac ? -1 : 1));
      expect({ version: r.body.version, siteId: r.body.siteId, unknownMachines: r.body.unknownMachines, machines: applied }).toEqual(full.body);
      // A relay released before deltas, holding the same version, gets the whole snapshot it can read.
      const old = await sync(s.relay.token, base.headers.get('etag')!, undefined, '');
      expect(old.status, old.text).toBe(200);
      expect(old.body).toEqual(full.body);
    });

    it("answers a version of another site with this site's full snapshot, never a delta", async () => {
      const a = await siteWithRelay();
      const b = await siteWithRelay();
      await admin('POST', '/v1/machines', { mac: randomMac(), siteId: a.site });
      const r = await sync(b.relay.token, a.etag);
      expect(r.status, r.text).toBe(200);
      expect(r.body.base).toBeUndefined();
      expect(r.body.siteId).toBe(b.site);
      expect(r.body).toEqual(b.snapshot);
    });

    it('tells a relay reconnecting in a tight loop to come back later (429 with Retry-After)', async () => {
      const s = await siteWithRelay();
      const statuses: number[] = [];
      let refused: CallResult | undefined;
      for (let i = 0; i < 30 && !refused; i++) {
        const r = await sync(s.relay.token);
        statuses.push(r.status);
        if (r.status === 429) refused = r;
      }
      expect(refused, `statuses: ${statuses.join(',')}`).toBeDefined();
      expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(19);
      expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused!.headers.get('retry-after'))).toBeLessThanOrEqual(10);
      expect(refused!.body.error.code).toBe('too_many_requests');
      // Another relay of the same site is not held back by this one.
      const sibling = await enrollRelay(t, s.site);
      expect((await sync(sibling.token)).status).toBe(200);
    });

    it("hands a queued power job to the site's waiting relay at once, not to another site's", async () => {
      const m = await bmcMachine(t, await createSite(t));
      const elsewhere = await keyedRelay(t, await createSite(t));
      const waiting = call(t, 'GET', '/v1/relay/power-jobs?wait=25&max=4', { token: m.relay.token });
      const idle = call(t, 'GET', '/v1/relay/power-jobs?wait=4&max=4', { token: elsewhere.token });
      await settle();
      const job = await admin('POST', `/v1/machines/${m.machineId}/power`, { action: 'status' });
      const r = await firstOf(waiting, idle);
      expect(r.winner).toBe('a');
      expect(r.a.body.jobs.map((j: any) => j.id)).toEqual([job.id]);
      expect(r.b.body.jobs).toEqual([]);
    });

    describe('a site larger than one page', () => {
      let big: Awaited<ReturnType<typeof siteWithRelay>>;
      const MACHINES = SYNC_PAGE_MACHINES + 3;
      const macs = Array.from({ length: MACHINES }, () => randomMac());
      beforeAll(async () => {
        big = await siteWithRelay();
        // Before any relay of it asks again, so no snapshot is recomputed per insert.
        for (let i = 0; i < macs.length; i += 32) {
          await Promise.all(macs.slice(i, i + 32).map((mac) => admin('POST', '/v1/machines', { mac, siteId: big.site })));
        }
      }, 240_000);

      it('is sent as pages the relay fetches in turn, which together are the whole snapshot', async () => {
        const first = await sync(big.relay.token);
        expect(first.status, first.text.slice(0, 200)).toBe(200);
        expect(first.body.machines).toHaveLength(SYNC_PAGE_MACHINES);
        expect(typeof first.body.next).toBe('string');
        const machines = [...first.body.machines];
        let next: string | null = first.body.next;
        let pages = 1;
        while (next) {
          const p = await call(t, 'GET', `/v1/relay/sync/page?version=${first.body.version}&cursor=${encodeURIComponent(next)}`, { token: big.relay.token });
          expect(p.status, p.text.slice(0, 200)).toBe(200);
          expect(p.body.version).toBe(first.body.version);
          machines.push(...p.body.machines);
          next = p.body.next;
          pages++;
        }
        // The site's machines, and the machines of no site that every site lists (other cases make some).
        expect(pages).toBe(2);
        const listed = machines.map((m) => m.mac);
        expect(new Set(listed).size).toBe(listed.length);
        expect(listed).toEqual([...listed].sort());
        expect(macs.filter((mac) => !listed.includes(mac))).toEqual([]);
      });

      it('is sent whole, in one answer, to a relay that does not list pages (released before them)', async () => {
        const r = await sync(big.relay.token, undefined, undefined, 'delta');
        expect(r.status, r.text.slice(0, 200)).toBe(200);
        expect(r.body.next).toBeUndefined();
        const listed = r.body.machines.map((m: any) => m.mac);
        expect(listed.length).toBeGreaterThan(SYNC_PAGE_MACHINES);
        expect(macs.filter((mac) => !listed.includes(mac))).toEqual([]);
      });

      it("answers 410 version_gone for a page of a version that is no longer the site's", async () => {
        const first = await sync(big.relay.token);
        await admin('POST', '/v1/machines', { mac: randomMac(), siteId: big.site });
        const p = await call(t, 'GET', `/v1/relay/sync/page?version=${first.body.version}&cursor=${encodeURIComponent(first.body.next)}`, { token: big.relay.token });
        expect(p.status, p.text).toBe(410);
        expect(p.body.error.code).toBe('version_gone');
      });

      it('refuses a cursor it did not issue, and a page request without version or cursor', async () => {
        const first = await sync(big.relay.token);
        const page = (q: string) => call(t, 'GET', `/v1/relay/sync/page${q}`, { token: big.relay.token });
        for (const cursor of ['garbage!', 'YzE6OTk5OTk6eA', btoa('c1:5000:00:00:00:00:00:00').replaceAll('=', '')]) {
          const r = await page(`?version=${first.body.version}&cursor=${encodeURIComponent(cursor)}`);
          expect(r.status, cursor).toBe(400);
          expect(r.body.error.code).toBe('validation_failed');
        }
        for (const q of ['', `?version=${first.body.version}`, `?cursor=${encodeURIComponent(first.body.next)}`, `?version=${first.body.version}&cursor=${encodeURIComponent(first.body.next)}&colour=blue`]) {
          expect((await page(q)).status, q).toBe(400);
        }
      });
    });
  });
}
