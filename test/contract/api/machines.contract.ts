import { describe, expect, it } from 'vitest';
import { createSite, createToken, enrollRelay } from '../fixtures.ts';
import { call, errorCode, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

/** The ways people and firmware write one MAC. */
function spellings(mac: string): string[] {
  const hex = mac.replaceAll(':', '');
  return [
    mac,
    mac.toUpperCase(),
    mac.replaceAll(':', '-'),
    mac.replaceAll(':', '-').toUpperCase(),
    `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8)}`,
    hex,
    hex.toUpperCase(),
    encodeURIComponent(mac),
  ];
}

async function createMachine(t: ApiTarget, json: Record<string, unknown>, token?: string): Promise<any> {
  const r = await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), ...json }, token });
  if (r.status !== 201) throw new Error(`create machine gave ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

async function listAll(t: ApiTarget, query: string, token?: string): Promise<string[]> {
  const r = await call(t, 'GET', `/v1/machines?limit=500&${query}`, { token });
  expect(r.status).toBe(200);
  return r.body.items.map((m: { id: string }) => m.id);
}

function issuePaths(r: CallResult): string[] {
  return (r.body.error.issues ?? []).map((i: { path: string }) => i.path);
}

export function machinesContract(target: () => ApiTarget) {
  describe('machines', () => {
    it('creates, reads, changes and deletes a machine', async () => {
      const t = target();
      const site = await createSite(t);
      const mac = randomMac();
      const created = await call(t, 'POST', '/v1/machines', {
        json: { mac: spellings(mac)[3], siteId: site, hostname: 'node-1', arch: 'uefi-x64', labels: { rack: 'r12' } },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ siteId: site, hostname: 'node-1', arch: 'uefi-x64', labels: { rack: 'r12' }, state: 'discovered', uuid: null, lastSeenAt: null });
      expect(created.body.mac).toBe(mac);
      expect(created.body.id).toMatch(/^mch_[0-9a-z]{26}$/);
      const id = created.body.id as string;

      const got = await call(t, 'GET', `/v1/machines/${id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);

      const changed = await call(t, 'PATCH', `/v1/machines/${id}`, {
        json: { state: 'ready', labels: { role: 'db' }, uuid: '4C4C4544-0042-3510-8051-B7C04F4E3232', hostname: null },
      });
      expect(changed.status).toBe(200);
      // Labels are replaced whole, the UUID is canonicalised, null clears a field, the rest stays.
      expect(changed.body).toMatchObject({ id, state: 'ready', labels: { role: 'db' }, uuid: '4c4c4544-0042-3510-8051-b7c04f4e3232', hostname: null, arch: 'uefi-x64' });
      expect((await call(t, 'GET', `/v1/machines/${id}`)).body).toEqual(changed.body);

      expect((await call(t, 'DELETE', `/v1/machines/${id}`)).status).toBe(204);
      const gone = await call(t, 'GET', `/v1/machines/${id}`);
      expect(gone.status).toBe(404);
      expect(errorCode(gone)).toBe('not_found');
    });

    it('finds one machine by its id and by its MAC in every spelling', async () => {
      const t = target();
      const m = await createMachine(t, { siteId: await createSite(t) });
      for (const s of spellings(m.mac)) {
        const r = await call(t, 'GET', `/v1/machines/${s}`);
        expect(r.status, s).toBe(200);
        expect(r.body.id, s).toBe(m.id);
      }
      expect((await call(t, 'PATCH', `/v1/machines/${spellings(m.mac)[4]}`, { json: { hostname: 'by-cisco-mac' } })).body.hostname).toBe('by-cisco-mac');
    });

    it('stores the MAC in canonical form whatever spelling it was created with', async () => {
      const t = target();
      const mac = randomMac();
      const created = await call(t, 'POST', '/v1/machines', { json: { mac: spellings(mac)[4] } });
      expect(created.status).toBe(201);
      expect(created.body.mac).toBe(mac);
      await call(t, 'DELETE', `/v1/machines/${created.body.id}`);
    });

    it('refuses a MAC that is already registered, in any spelling, with 409', async () => {
      const t = target();
      const m = await createMachine(t, { siteId: await createSite(t) });
      for (const s of [m.mac, spellings(m.mac)[3], spellings(m.mac)[6]]) {
        const again = await call(t, 'POST', '/v1/machines', { json: { mac: s } });
        expect(again.status, s).toBe(409);
        expect(errorCode(again)).toBe('conflict');
      }
    });

    it('answers 404 for an unknown id or MAC and 400 for something that is neither', async () => {
      const t = target();
      for (const path of ['mch_00000000000000000000000000', 'mch_nope', randomMac()]) {
        const r = await call(t, 'GET', `/v1/machines/${path}`);
        expect(r.status, path).toBe(404);
        expect(errorCode(r)).toBe('not_found');
      }
      for (const path of ['not-a-mac', '52:54:00:12:34', '52:54:00:12:34:5g', '5254.0012.345']) {
        const r = await call(t, 'GET', `/v1/machines/${path}`);
        expect(r.status, path).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
        expect(issuePaths(r)).toEqual(['idOrMac']);
      }
    });

    it('refuses bad fields and unknown sites with the path of the field', async () => {
      const t = target();
      const cases: [Record<string, unknown>, string][] = [
        [{ mac: 'zz:zz:zz:zz:zz:zz' }, 'mac'],
        [{ mac: randomMac(), state: 'exploded' }, 'state'],
        [{ mac: randomMac(), arch: 'pdp11' }, 'arch'],
        [{ mac: randomMac(), labels: { 'Bad Key': 'x' } }, 'labels.Bad Key'],
        [{ mac: randomMac(), hostname: '-bad-' }, 'hostname'],
        [{ mac: randomMac(), siteId: 'site_00000000000000000000000000' }, 'siteId'],
        [{ mac: randomMac(), colour: 'red' }, 'colour'],
      ];
      for (const [json, path] of cases) {
        const r = await call(t, 'POST', '/v1/machines', { json });
        expect(r.status, JSON.stringify(json)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
        expect(issuePaths(r), JSON.stringify(json)).toContain(path);
      }
      const m = await createMachine(t, {});
      const moved = await call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { siteId: 'site_00000000000000000000000000' } });
      expect(moved.status).toBe(400);
      expect(issuePaths(moved)).toEqual(['siteId']);
      // The MAC is the identity: it cannot be changed, only a new machine registered.
      expect((await call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { mac: randomMac() } })).status).toBe(400);
      await call(t, 'DELETE', `/v1/machines/${m.id}`);
    });

    it('filters by site, state, arch, labels and a hostname or MAC prefix', async () => {
      const t = target();
      const site = await createSite(t);
      const tag = unique('h').toLowerCase().replace(/[^a-z0-9-]/g, '');
      const a = await createMachine(t, { siteId: site, state: 'ready', arch: 'bios', labels: { rack: 'r1', role: 'db' }, hostname: `${tag}-a.example` });
      const b = await createMachine(t, { siteId: site, state: 'ready', arch: 'uefi-x64', labels: { rack: 'r1', role: 'web' }, hostname: `${tag}-b.example` });
      const c = await createMachine(t, { siteId: site, state: 'deployed', arch: 'uefi-x64', labels: { rack: 'r2', role: 'db' }, hostname: `other-${tag}` });
      const cases: [string, string[]][] = [
        ['', [a.id, b.id, c.id]],
        ['state=ready', [a.id, b.id]],
        ['arch=uefi-x64', [b.id, c.id]],
        ['label=rack=r1', [a.id, b.id]],
        ['label=role=db', [a.id, c.id]],
        ['label=rack=r1&label=role=db', [a.id]],
        ['label=rack=r3', []],
        ['label=role=db&state=deployed&arch=uefi-x64', [c.id]],
        [`q=${tag}`, [a.id, b.id]],
        [`q=${tag.toUpperCase()}-B`, [b.id]],
        [`q=${c.mac.slice(0, 14)}`, [c.id]],
        [`q=${c.mac.slice(0, 14).replaceAll(':', '-').toUpperCase()}`, [c.id]],
      ];
      // Lists are in id order, which within one millisecond is not creation order.
      for (const [query, ids] of cases) expect(await listAll(t, `siteId=${site}&${query}`), query).toEqual([...ids].sort());
      expect(await listAll(t, `siteId=${await createSite(t)}`)).toEqual([]);
    });

    it('refuses malformed filters with 400', async () => {
      const t = target();
      const nine = Array.from({ length: 9 }, (_, i) => `label=k${i}=v`).join('&');
      for (const query of ['label=rack', 'label==r1', 'label=Rack=r1', nine, 'state=gone', 'arch=mips', 'q=a%25', 'q=', 'limit=0', 'limit=501', 'cursor=zzz', 'colour=red']) {
        const r = await call(t, 'GET', `/v1/machines?${query}`);
        expect(r.status, query).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
      expect((await call(t, 'GET', `/v1/machines?${nine.replace(/&label=k8=v$/, '')}`)).status).toBe(200);
    });

    it('pages through a filtered list with a cursor, in id order, without repeats', async () => {
      const t = target();
      const site = await createSite(t);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createMachine(t, { siteId: site, labels: { batch: 'p' } })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r: CallResult = await call(t, 'GET', `/v1/machines?siteId=${site}&label=batch=p&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...r.body.items.map((m: { id: string }) => m.id));
        cursor = r.body.nextCursor;
        pages++;
      } while (cursor);
      // Ids made in the same millisecond order by their random part, not by creation.
      expect(seen).toEqual([...ids].sort());
      expect(pages).toBe(3);
    });

    it("keeps operators to their sites' machines and makes machines without a site admin-only", async () => {
      const t = target();
      const [own, other] = [await createSite(t), await createSite(t)];
      const op = (await createToken(t, { role: 'operator', siteIds: [own] })).token;
      const theirs = await createMachine(t, { siteId: other });
      const unsited = await createMachine(t, {});

      const mine = await call(t, 'POST', '/v1/machines', { token: op, json: { mac: randomMac(), siteId: own } });
      expect(mine.status).toBe(201);
      // Another site answers like a site that does not exist; no site at all is admin-only.
      const elsewhere = await call(t, 'POST', '/v1/machines', { token: op, json: { mac: randomMac(), siteId: other } });
      expect(elsewhere.status).toBe(400);
      expect(issuePaths(elsewhere)).toEqual(['siteId']);
      expect((await call(t, 'POST', '/v1/machines', { token: op, json: { mac: randomMac() } })).status).toBe(403);

      for (const m of [theirs, unsited]) {
        for (const path of [m.id, m.mac, spellings(m.mac)[2]]) {
          expect((await call(t, 'GET', `/v1/machines/${path}`, { token: op })).status).toBe(404);
          expect((await call(t, 'GET', `/v1/machines/${path}/assignment`, { token: op })).status).toBe(404);
          expect((await call(t, 'PATCH', `/v1/machines/${path}`, { token: op, json: { hostname: 'x' } })).status).toBe(404);
          expect((await call(t, 'DELETE', `/v1/machines/${path}`, { token: op })).status).toBe(404);
        }
      }
      const listed = await call(t, 'GET', '/v1/machines?limit=500', { token: op });
      expect(listed.body.items.map((m: { siteId: string }) => m.siteId)).toEqual(listed.body.items.map(() => own));
      expect(listed.body.items.map((m: { id: string }) => m.id)).toContain(mine.body.id);
      expect(await listAll(t, `siteId=${other}`, op)).toEqual([]);

      // Moving needs write access to both sites.
      expect((await call(t, 'PATCH', `/v1/machines/${mine.body.id}`, { token: op, json: { siteId: other } })).status).toBe(400);
      expect((await call(t, 'PATCH', `/v1/machines/${mine.body.id}`, { token: op, json: { siteId: null } })).status).toBe(403);
      const both = (await createToken(t, { role: 'operator', siteIds: [own, other] })).token;
      const moved = await call(t, 'PATCH', `/v1/machines/${mine.body.id}`, { token: both, json: { siteId: other } });
      expect(moved.status).toBe(200);
      expect(moved.body.siteId).toBe(other);
      expect((await call(t, 'GET', `/v1/machines/${mine.body.id}`, { token: op })).status).toBe(404);
      expect((await call(t, 'DELETE', `/v1/machines/${mine.body.id}`, { token: both })).status).toBe(204);
    });

    it('lets viewers read and nothing more, and keeps relay tokens out', async () => {
      const t = target();
      const site = await createSite(t);
      const m = await createMachine(t, { siteId: site });
      const viewer = (await createToken(t, { role: 'viewer', siteIds: [site] })).token;
      expect((await call(t, 'GET', `/v1/machines/${m.mac}`, { token: viewer })).status).toBe(200);
      expect((await call(t, 'GET', `/v1/machines?siteId=${site}`, { token: viewer })).body.items).toHaveLength(1);
      for (const [method, path, json] of [
        ['POST', '/v1/machines', { mac: randomMac(), siteId: site }],
        ['PATCH', `/v1/machines/${m.id}`, { state: 'ready' }],
        ['DELETE', `/v1/machines/${m.id}`, undefined],
      ] as const) {
        const r = await call(t, method, path, { token: viewer, json });
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(errorCode(r)).toBe('forbidden');
      }
      const relay = (await enrollRelay(t, site)).token;
      expect((await call(t, 'GET', `/v1/machines/${m.mac}`, { token: relay })).status).toBe(403);
      expect((await call(t, 'GET', '/v1/machines', { token: relay })).status).toBe(403);
    });
  });
}
