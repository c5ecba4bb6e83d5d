import { describe, expect, it } from 'vitest';
import type { SiteChanges } from '../../cloud/src/ports/site-changes.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { inProcessTarget } from '../support/in-process.ts';

/**
 * Which writes tell the sync hub, and when: the app over SQLite with a recording test double in
 * place of the hub (what it records is exactly what the hub would be told). A change is told after
 * it committed, only when the request succeeded, with the sites it touched ('all' when it names none).
 */
function recordingApp() {
  const told: (readonly string[] | 'all')[] = [];
  /** Machines in the database at each telling: what a hub computing then would read. */
  const machinesWhenTold: number[] = [];
  const t: ReturnType<typeof inProcessTarget> = inProcessTarget({
    siteChanges: {
      async changed(scope) {
        told.push(scope === 'all' ? 'all' : [...scope].sort());
        machinesWhenTold.push((await t.deps.db.first<{ n: number }>(sql('SELECT count(*) AS n FROM machines')))!.n);
      },
    } satisfies SiteChanges,
  });
  const admin = async (method: string, path: string, json?: unknown) => {
    const r = await call(t, method, path, { json });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.body;
  };
  const take = () => {
    machinesWhenTold.splice(0);
    return told.splice(0);
  };
  return { t, admin, take, machinesWhenTold };
}

describe('what the sync hub is told', () => {
  it("tells a site's change to that site, after the request succeeded", async () => {
    const w = recordingApp();
    const site = (await w.admin('POST', '/v1/sites', { name: unique('n') })).id;
    expect(w.take()).toEqual([[site]]);
    await w.admin('POST', '/v1/machines', { mac: randomMac(), siteId: site });
    // Told once the machine is there to be read.
    expect(w.machinesWhenTold).toEqual([1]);
    expect(w.take()).toEqual([[site]]);
  });

  it('tells nothing for a refused change', async () => {
    const w = recordingApp();
    const site = (await w.admin('POST', '/v1/sites', { name: unique('n') })).id;
    w.take();
    const r = await call(w.t, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: 'prof_nope' } });
    expect(r.status).toBe(400);
    const dup = await call(w.t, 'POST', '/v1/sites', { json: { name: (await call(w.t, 'GET', `/v1/sites/${site}`)).body.name } });
    expect(dup.status).toBe(409);
    expect(w.take()).toEqual([]);
  });

  it("tells every site ('all') about a profile edit and a fleet-wide assignment", async () => {
    const w = recordingApp();
    const p = await w.admin('POST', '/v1/profiles', { name: unique('n'), spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } });
    await w.admin('PATCH', `/v1/profiles/${p.id}`, { spec: { kind: 'local' } });
    await w.admin('POST', '/v1/assignments', { profileId: p.id, selector: { labels: { rack: 'r1' } } });
    expect(w.take()).toEqual(['all', 'all', 'all']);
  });

  it('tells both sites when a machine moves, and every site when a pending MAC becomes a machine', async () => {
    const w = recordingApp();
    const [a, b] = [(await w.admin('POST', '/v1/sites', { name: unique('n') })).id, (await w.admin('POST', '/v1/sites', { name: unique('n') })).id];
    const m = await w.admin('POST', '/v1/machines', { mac: randomMac(), siteId: a });
    w.take();
    await w.admin('PATCH', `/v1/machines/${m.id}`, { siteId: b });
    expect(w.take()).toEqual([[a, b].sort()]);
    const p = await w.admin('POST', '/v1/profiles', { name: unique('n'), spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } });
    const pending = randomMac();
    await w.admin('POST', '/v1/assignments', { profileId: p.id, selector: { mac: pending } });
    w.take();
    await w.admin('POST', '/v1/machines', { mac: pending, siteId: a });
    expect(w.take()).toEqual(['all']);
  });

  it('tells nothing for writes that no snapshot reads: tokens, enrollment codes, webhooks', async () => {
    const w = recordingApp();
    const site = (await w.admin('POST', '/v1/sites', { name: unique('n') })).id;
    w.take();
    await w.admin('POST', '/v1/tokens', { name: unique('n'), role: 'viewer' });
    await w.admin('POST', `/v1/sites/${site}/enrollment-codes`, {});
    await w.admin('POST', '/v1/webhooks', { url: 'https://hooks.example.com/x', events: ['relay.online'] });
    expect(w.take()).toEqual([]);
  });
});
