import { describe, expect, it } from 'vitest';
import { createSite, createToken } from '../fixtures.ts';
import { call, errorCode, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

async function created<T = any>(p: Promise<CallResult<T>>, what: string): Promise<T> {
  const r = await p;
  if (r.status !== 201) throw new Error(`${what} gave ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

const profile = async (t: ApiTarget) => (await created(call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec: { kind: 'local' } } }), 'create profile')).id as string;
const machine = async (t: ApiTarget, json: Record<string, unknown>) => created(call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), ...json } }), 'create machine');
const assign = async (t: ApiTarget, json: Record<string, unknown>, token?: string) => call(t, 'POST', '/v1/assignments', { json, token });

async function winner(t: ApiTarget, idOrMac: string, token?: string): Promise<{ id: string | null; reason: string }> {
  const r = await call(t, 'GET', `/v1/machines/${idOrMac}/assignment`, { token });
  expect(r.status).toBe(200);
  return { id: r.body.assignment?.id ?? null, reason: r.body.reason };
}

const ids = (r: CallResult): string[] => r.body.items.map((a: { id: string }) => a.id);

export function assignmentsContract(target: () => ApiTarget) {
  describe('assignments', () => {
    it('creates, reads, changes and deletes an assignment; the MAC is stored canonical', async () => {
      const t = target();
      const [p1, p2] = [await profile(t), await profile(t)];
      const m = await machine(t, { siteId: await createSite(t) });
      const r = await assign(t, { profileId: p1, selector: { mac: m.mac.replaceAll(':', '-').toUpperCase() } });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ profileId: p1, selector: { mac: m.mac }, once: false, priority: 0 });
      expect(r.body.id).toMatch(/^asg_[0-9a-z]{26}$/);
      expect((await call(t, 'GET', `/v1/assignments/${r.body.id}`)).body).toEqual(r.body);

      const changed = await call(t, 'PATCH', `/v1/assignments/${r.body.id}`, { json: { profileId: p2, once: true, priority: 7 } });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ id: r.body.id, profileId: p2, once: true, priority: 7, selector: { mac: m.mac } });
      expect((await call(t, 'GET', `/v1/assignments?machineId=${m.id}`)).body.items).toEqual([changed.body]);
      // The selector is what the assignment is; changing it means another assignment.
      expect((await call(t, 'PATCH', `/v1/assignments/${r.body.id}`, { json: { selector: { arch: 'bios' } } })).status).toBe(400);

      expect((await call(t, 'DELETE', `/v1/assignments/${r.body.id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/assignments/${r.body.id}`)).status).toBe(404);
    });

    it('validates the selector and every reference, naming the bad field', async () => {
      const t = target();
      const p = await profile(t);
      const m = await machine(t, {});
      const cases: [Record<string, unknown>, string][] = [
        [{ profileId: p, selector: {} }, 'selector'],
        [{ profileId: p }, 'selector'],
        [{ profileId: p, selector: { mac: 'nope' } }, 'selector.mac'],
        [{ profileId: p, selector: { arch: 'z80' } }, 'selector.arch'],
        [{ profileId: p, selector: { hostname: 'x' } }, 'selector.hostname'],
        [{ profileId: p, selector: { siteId: 'site_00000000000000000000000000' } }, 'selector.siteId'],
        [{ profileId: p, selector: { machineId: 'mch_00000000000000000000000000' } }, 'selector.machineId'],
        [{ profileId: p, selector: { machineId: m.id, mac: randomMac() } }, 'selector.mac'],
        [{ profileId: 'prf_00000000000000000000000000', selector: { machineId: m.id } }, 'profileId'],
        [{ profileId: p, selector: { machineId: m.id }, priority: 1001 }, 'priority'],
      ];
      for (const [json, path] of cases) {
        const r = await assign(t, json);
        expect(r.status, JSON.stringify(json)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
        expect(r.body.error.issues.map((i: { path: string }) => i.path)[0], JSON.stringify(json)).toBe(path);
      }
      const a = (await assign(t, { profileId: p, selector: { machineId: m.id } })).body;
      const bad = await call(t, 'PATCH', `/v1/assignments/${a.id}`, { json: { profileId: 'prf_00000000000000000000000000' } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues[0].path).toBe('profileId');
      await call(t, 'DELETE', `/v1/machines/${m.id}`);
    });

    it('replaces the assignments that name a machine with replace: true, in one step, and lists what it replaced', async () => {
      const t = target();
      const [p1, p2, p3] = [await profile(t), await profile(t), await profile(t)];
      const site = await createSite(t);
      const m = await machine(t, { siteId: site });
      const byMac = (await assign(t, { profileId: p1, selector: { mac: m.mac } })).body;
      const byId = (await assign(t, { profileId: p1, selector: { machineId: m.id }, priority: 3 })).body;
      const siteRule = (await assign(t, { profileId: p1, selector: { siteId: site } })).body;

      // Without replace, assigning again adds beside what exists.
      const added = await assign(t, { profileId: p2, selector: { mac: m.mac } });
      expect(added.status).toBe(201);
      expect(added.body.replaced).toBeUndefined();
      expect(ids(await call(t, 'GET', `/v1/assignments?machineId=${m.id}`)).sort()).toEqual([byMac.id, byId.id, added.body.id].sort());

      const r = await assign(t, { profileId: p3, selector: { mac: m.mac }, replace: true });
      expect(r.status, r.text).toBe(201);
      expect(r.body).toMatchObject({ profileId: p3, selector: { mac: m.mac } });
      expect(r.body.replaced.map((a: { id: string }) => a.id).sort()).toEqual([byMac.id, byId.id, added.body.id].sort());
      expect(r.body.replaced.find((a: { id: string }) => a.id === byId.id)).toMatchObject({ profileId: p1, priority: 3, selector: { machineId: m.id } });
      expect(ids(await call(t, 'GET', `/v1/assignments?machineId=${m.id}`))).toEqual([r.body.id]);
      expect((await winner(t, m.id)).id).toBe(r.body.id);
      // A rule about the site names no machine: it stays.
      expect((await call(t, 'GET', `/v1/assignments/${siteRule.id}`)).status).toBe(200);

      // Replacing when there is nothing to replace says so with an empty list.
      const again = await assign(t, { profileId: p1, selector: { machineId: m.id }, replace: true });
      expect(again.body.replaced.map((a: { id: string }) => a.id)).toEqual([r.body.id]);
      const first = await assign(t, { profileId: p1, selector: { mac: randomMac() }, replace: true });
      expect(first.status).toBe(201);
      expect(first.body.replaced).toEqual([]);
    });

    it('replaces MAC assignments of a machine not registered yet, and refuses replace for a selector naming no machine', async () => {
      const t = target();
      const [p1, p2] = [await profile(t), await profile(t)];
      const mac = randomMac();
      const old = (await assign(t, { profileId: p1, selector: { mac } })).body;
      const r = await assign(t, { profileId: p2, selector: { mac: mac.toUpperCase() }, replace: true });
      expect(r.status).toBe(201);
      expect(r.body.replaced.map((a: { id: string }) => a.id)).toEqual([old.id]);
      expect((await call(t, 'GET', `/v1/assignments/${old.id}`)).status).toBe(404);

      const site = await createSite(t);
      const rule = await assign(t, { profileId: p1, selector: { siteId: site }, replace: true });
      expect(rule.status).toBe(400);
      expect(errorCode(rule)).toBe('validation_failed');
      expect(rule.body.error.issues).toEqual([{ path: 'replace', message: 'replace needs a selector naming one machine (machineId or mac)' }]);
      expect((await call(t, 'GET', `/v1/assignments?siteId=${site}`)).body.items).toEqual([]);
    });

    it('lets an operator replace within its site; a MAC of no site stays admin-only with replace too, and is left as it was', async () => {
      const t = target();
      const [p1, p2] = [await profile(t), await profile(t)];
      const site = await createSite(t);
      const m = await machine(t, { siteId: site });
      // A MAC assignment of no site is admin-only; the operator of the site cannot replace it.
      const mac = randomMac();
      const pending = (await assign(t, { profileId: p1, selector: { mac } })).body;
      const operator = await createToken(t, { role: 'operator', siteIds: [site] });
      const refused = await assign(t, { profileId: p2, selector: { mac }, replace: true }, operator.token);
      expect(refused.status).toBe(403);
      expect((await call(t, 'GET', `/v1/assignments/${pending.id}`)).status).toBe(200);
      // Its own site's machine it can.
      const own = (await assign(t, { profileId: p1, selector: { machineId: m.id } })).body;
      const ok = await assign(t, { profileId: p2, selector: { machineId: m.id }, replace: true }, operator.token);
      expect(ok.status, ok.text).toBe(201);
      expect(ok.body.replaced.map((a: { id: string }) => a.id)).toEqual([own.id]);
    });

    it('picks the most specific match for a machine, and says why', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await profile(t);
      const m = await machine(t, { siteId: site, arch: 'uefi-x64', labels: { rack: 'r12', role: 'db' } });
      const hyphen = m.mac.replaceAll(':', '-');
      expect(await winner(t, hyphen)).toEqual({ id: null, reason: 'no assignment matches this machine' });

      const byArch = (await assign(t, { profileId: p, selector: { siteId: site, arch: 'uefi-x64' }, priority: 1000 })).body;
      const bySite = (await assign(t, { profileId: p, selector: { siteId: site }, priority: 1000 })).body;
      expect(await winner(t, m.id)).toEqual({ id: byArch.id, reason: `assigned via site ${site} and arch uefi-x64` });
      const byLabel = (await assign(t, { profileId: p, selector: { siteId: site, labels: { rack: 'r12' } } })).body;
      expect(await winner(t, hyphen)).toEqual({ id: byLabel.id, reason: `assigned via label rack=r12 and site ${site}` });
      const byMac = (await assign(t, { profileId: p, selector: { mac: hyphen }, priority: -1000 })).body;
      expect(await winner(t, hyphen)).toEqual({ id: byMac.id, reason: 'assigned to this MAC' });
      // A selector with a field that does not match never wins, however high its priority.
      await assign(t, { profileId: p, selector: { siteId: site, labels: { rack: 'r12', role: 'web' } }, priority: 1000 });

      expect((await call(t, 'DELETE', `/v1/assignments/${byMac.id}`)).status).toBe(204);
      expect((await winner(t, m.mac)).id).toBe(byLabel.id);
      expect((await call(t, 'DELETE', `/v1/assignments/${byLabel.id}`)).status).toBe(204);
      expect((await winner(t, m.mac)).id).toBe(byArch.id);
      expect((await call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { arch: 'bios' } })).status).toBe(200);
      expect(await winner(t, m.mac)).toEqual({ id: bySite.id, reason: `assigned via site ${site}` });
    });

    it('breaks ties by priority, then age', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await profile(t);
      const m = await machine(t, { siteId: site, labels: { a: '1', b: '2' } });
      const first = (await assign(t, { profileId: p, selector: { siteId: site, labels: { a: '1' } } })).body;
      // Creation times are in milliseconds; within one, the id decides instead (still deterministic).
      await new Promise((resolve) => setTimeout(resolve, 5));
      await assign(t, { profileId: p, selector: { siteId: site, labels: { b: '2' } } });
      expect((await winner(t, m.id)).id).toBe(first.id);
      const urgent = (await assign(t, { profileId: p, selector: { siteId: site, labels: { b: '2' } }, priority: 1 })).body;
      expect((await winner(t, m.id)).id).toBe(urgent.id);
    });

    it('binds a MAC assignment made before the machine exists to the machine, and drops it with the machine', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await profile(t);
      const mac = randomMac();
      const pending = (await assign(t, { profileId: p, selector: { mac } })).body;
      const op = (await createToken(t, { role: 'operator', siteIds: [site] })).token;
      // Not yet anyone's: the MAC might end up in any site, so only admins see it.
      expect((await call(t, 'GET', `/v1/assignments/${pending.id}`, { token: op })).status).toBe(404);

      const m = (await call(t, 'POST', '/v1/machines', { token: op, json: { mac: mac.toUpperCase(), siteId: site } })).body;
      expect((await call(t, 'GET', `/v1/assignments/${pending.id}`, { token: op })).status).toBe(200);
      expect(ids(await call(t, 'GET', `/v1/assignments?machineId=${m.id}`, { token: op }))).toEqual([pending.id]);
      expect(await winner(t, m.id, op)).toEqual({ id: pending.id, reason: 'assigned to this MAC' });
      expect((await call(t, 'PATCH', `/v1/assignments/${pending.id}`, { token: op, json: { priority: 3 } })).status).toBe(200);

      expect((await call(t, 'DELETE', `/v1/machines/${m.id}`, { token: op })).status).toBe(204);
      expect((await call(t, 'GET', `/v1/assignments/${pending.id}`)).status).toBe(404);
    });

    it('keeps an operator to its sites: it sees fleet-wide rules but nothing of another site', async () => {
      const t = target();
      const [own, other] = [await createSite(t), await createSite(t)];
      const p = await profile(t);
      const op = (await createToken(t, { role: 'operator', siteIds: [own] })).token;
      const viewer = (await createToken(t, { role: 'viewer', siteIds: [own] })).token;
      const mine = await machine(t, { siteId: own, labels: { fleet: 'x' } });
      const theirs = await machine(t, { siteId: other });
      const unsited = await machine(t, {});
      const fleetLabel = unique('fl').toLowerCase().replace(/[^a-z0-9]/g, '');

      const ownSite = await assign(t, { profileId: p, selector: { siteId: own } }, op);
      expect(ownSite.status).toBe(201);
      const ownMachine = await assign(t, { profileId: p, selector: { machineId: mine.id } }, op);
      expect(ownMachine.status).toBe(201);
      expect((await assign(t, { profileId: p, selector: { mac: mine.mac } }, op)).status).toBe(201);
      // Another site's objects read as absent; a MAC of another site's machine is refused; no site is admin-only.
      expect((await assign(t, { profileId: p, selector: { siteId: other } }, op)).status).toBe(400);
      expect((await assign(t, { profileId: p, selector: { machineId: theirs.id } }, op)).status).toBe(400);
      expect((await assign(t, { profileId: p, selector: { machineId: unsited.id } }, op)).status).toBe(400);
      expect((await assign(t, { profileId: p, selector: { mac: theirs.mac } }, op)).status).toBe(403);
      expect((await assign(t, { profileId: p, selector: { labels: { [fleetLabel]: 'y' } } }, op)).status).toBe(403);
      expect((await assign(t, { profileId: p, selector: { arch: 'bios' } }, op)).status).toBe(403);
      expect((await assign(t, { profileId: p, selector: { machineId: mine.id, siteId: other } }, op)).status).toBe(400);
      expect((await assign(t, { profileId: p, selector: { siteId: own } }, viewer)).status).toBe(403);

      const theirSite = (await assign(t, { profileId: p, selector: { siteId: other } })).body;
      const theirMachine = (await assign(t, { profileId: p, selector: { mac: theirs.mac } })).body;
      const fleet = (await assign(t, { profileId: p, selector: { labels: { [fleetLabel]: 'y' } } })).body;

      for (const token of [op, viewer]) {
        const listed = ids(await call(t, 'GET', '/v1/assignments?limit=500', { token }));
        expect(listed).toEqual(expect.arrayContaining([ownSite.body.id, ownMachine.body.id, fleet.id]));
        expect(listed).not.toContain(theirSite.id);
        expect(listed).not.toContain(theirMachine.id);
        expect(ids(await call(t, 'GET', `/v1/assignments?siteId=${other}`, { token }))).toEqual([]);
        expect((await call(t, 'GET', `/v1/assignments/${fleet.id}`, { token })).status).toBe(200);
        for (const hidden of [theirSite, theirMachine]) {
          expect((await call(t, 'GET', `/v1/assignments/${hidden.id}`, { token })).status).toBe(404);
          expect((await call(t, 'PATCH', `/v1/assignments/${hidden.id}`, { token, json: { priority: 1 } })).status).toBe(404);
          expect((await call(t, 'DELETE', `/v1/assignments/${hidden.id}`, { token })).status).toBe(404);
        }
      }
      // Visible but not theirs to change.
      expect((await call(t, 'PATCH', `/v1/assignments/${fleet.id}`, { token: op, json: { priority: 1 } })).status).toBe(403);
      expect((await call(t, 'DELETE', `/v1/assignments/${fleet.id}`, { token: op })).status).toBe(403);
      expect((await call(t, 'PATCH', `/v1/assignments/${ownSite.body.id}`, { token: viewer, json: { priority: 1 } })).status).toBe(403);
      expect((await call(t, 'PATCH', `/v1/assignments/${ownSite.body.id}`, { token: op, json: { priority: 1 } })).status).toBe(200);
      expect((await call(t, 'DELETE', `/v1/assignments/${ownSite.body.id}`, { token: op })).status).toBe(204);
      expect((await call(t, 'DELETE', `/v1/assignments/${fleet.id}`)).status).toBe(204);
    });

    it("moves a machine's assignments with the machine", async () => {
      const t = target();
      const [a, b] = [await createSite(t), await createSite(t)];
      const p = await profile(t);
      const opA = (await createToken(t, { role: 'operator', siteIds: [a] })).token;
      const opB = (await createToken(t, { role: 'operator', siteIds: [b] })).token;
      const m = await machine(t, { siteId: a });
      const asg = (await assign(t, { profileId: p, selector: { machineId: m.id } }, opA)).body;
      expect((await call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { siteId: b } })).status).toBe(200);
      expect((await call(t, 'GET', `/v1/assignments/${asg.id}`, { token: opA })).status).toBe(404);
      expect((await call(t, 'GET', `/v1/assignments/${asg.id}`, { token: opB })).status).toBe(200);
      expect(ids(await call(t, 'GET', `/v1/assignments?siteId=${b}`))).toEqual([asg.id]);
    });

    it('pages through assignments with a cursor', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await profile(t);
      const made: string[] = [];
      for (let i = 0; i < 3; i++) made.push((await assign(t, { profileId: p, selector: { siteId: site }, priority: i })).body.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r: CallResult = await call(t, 'GET', `/v1/assignments?siteId=${site}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        seen.push(...ids(r));
        cursor = r.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...made].sort());
    });
  });
}
