/**
 * What the contract suite cannot reach through the API yet: a consumed one-shot (success callbacks
 * come with POST /v1/callback), a stored profile that no longer parses, and the rows a boot writes.
 * In-process, with the database at hand.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../cloud/src/auth/secrets.ts';
import { loadCatalog } from '../../cloud/src/boot/catalog.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { inProcessTarget } from '../support/in-process.ts';
import { enrollBootRelay } from './api/boot.contract.ts';
import { createSite } from './fixtures.ts';
import { call, randomMac, unique } from './target.ts';

describe('boot decisions against the database (in-process)', () => {
  const t = inProcessTarget();
  const db = t.deps.db;

  async function world() {
    const site = await createSite(t);
    const relay = await enrollBootRelay(t, site);
    const kernel = (await call(t, 'POST', '/v1/images', { json: { name: unique('k'), kind: 'kernel' } })).body.id;
    const p = (await call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec: { kind: 'linux', kernel, cmdline: 'token={{callbackToken}}' } } })).body;
    const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site, arch: 'bios' } })).body;
    const a = (await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { machineId: m.id }, once: true } })).body.id as string;
    const boot = () => call<string>(t, 'GET', `/v1/relay/boot?mac=${m.mac}&arch=0`, { token: relay.token });
    return { site, relay, p, m, a, boot };
  }

  it('writes one boot row with the hashed callback token, and the script-rendered event, in the boot it renders', async () => {
    const { m, a, p, boot, relay, site } = await world();
    const r = await boot();
    const token = /token=(ebc_[0-9a-z]{32})/.exec(r.text)![1]!;
    const rows = await db.all<any>(sql('SELECT * FROM boots WHERE machine_id = ?', m.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ site_id: site, relay_id: relay.relayId, profile_id: p.id, assignment_id: a, once: 1, state: 'rendered', callback_hash: sha256Hex(token) });
    expect(rows[0].callback_expires_at - rows[0].created_at).toBe(24 * 3600 * 1000);
    expect(r.text).not.toContain(rows[0].callback_hash);
    const events = await db.all<any>(sql('SELECT * FROM boot_events WHERE mac = ?', m.mac));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ source: 'cloud', stage: 'script-rendered', boot_id: rows[0].id, site_id: site, relay_id: relay.relayId });
    expect(JSON.parse(events[0].detail)).toMatchObject({ decision: 'boot', profileId: p.id });
  });

  it('boots the local disk once the one-shot is consumed, and netboots again after reprovision', async () => {
    const { m, a, boot } = await world();
    expect((await boot()).headers.get('x-edgeboot-decision')).toBe('boot');
    await db.batch([sql('INSERT INTO assignment_consumptions (assignment_id, machine_id, consumed_at) VALUES (?, ?, ?)', a, m.id, Date.now())]);
    const local = await boot();
    expect(local.headers.get('x-edgeboot-decision')).toBe('local');
    expect(local.headers.get('x-edgeboot-reason')).toContain('one-shot consumed');
    expect(local.text).not.toContain('ebc_');
    const explained = (await call(t, 'GET', `/v1/machines/${m.id}/explain`)).body;
    expect(explained).toMatchObject({ action: 'local', profile: null });
    expect(explained.reason).toBe('one-shot consumed (assigned to this machine): local disk until re-provisioned');

    expect((await call(t, 'POST', `/v1/machines/${m.id}/reprovision`)).status).toBe(200);
    expect(await db.all(sql('SELECT * FROM assignment_consumptions WHERE machine_id = ?', m.id))).toEqual([]);
    expect((await boot()).headers.get('x-edgeboot-decision')).toBe('boot');
  });

  it('fails closed to the local disk when a stored profile no longer parses', async () => {
    const { p, boot, m } = await world();
    await db.batch([sql('UPDATE profiles SET spec = ? WHERE id = ?', JSON.stringify({ kind: 'linux', kernel: 42 }), p.id)]);
    const r = await boot();
    expect(r.headers.get('x-edgeboot-decision')).toBe('local');
    expect(r.headers.get('x-edgeboot-reason')).toContain('no longer exists');
    await db.batch([sql('UPDATE profiles SET spec = ? WHERE id = ?', '{not json', p.id)]);
    expect((await boot()).headers.get('x-edgeboot-decision')).toBe('local');
    expect(await db.all(sql('SELECT id FROM boots WHERE machine_id = ?', m.id))).toEqual([]);
  });

  it('gives a pending MAC assignment to the machine it discovers, with its site', async () => {
    const { relay, p, site } = await world();
    const mac = randomMac();
    const a = (await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { mac } } })).body.id;
    const r = await call(t, 'GET', `/v1/relay/boot?mac=${mac}&arch=0`, { token: relay.token });
    expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
    const m = (await call(t, 'GET', `/v1/machines/${mac}`)).body;
    expect(await db.first(sql('SELECT machine_id, site_id FROM assignments WHERE id = ?', a))).toEqual({ machine_id: m.id, site_id: site });
  });

  it('boots in two database round trips, however many machines the site has', async () => {
    const { boot, site, p } = await world();
    for (let i = 0; i < 50; i++) {
      const other = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site } })).body;
      await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { machineId: other.id } } });
    }
    expect((await boot()).status).toBe(200);
    const seen: string[] = [];
    const { all, first, batch } = db;
    const auth = (s: string) => s.includes('tokens');
    Object.assign(db, {
      all: (s: any) => (seen.push(`all ${s.sql.slice(0, 30)}`), all.call(db, s)),
      first: (s: any) => (seen.push(`first ${s.sql.slice(0, 30)}`), first.call(db, s)),
      batch: (ss: any) => (seen.push(`batch ${ss.length} ${ss[0].sql.slice(0, 40)}`), batch.call(db, ss)),
    });
    try {
      expect((await boot()).status).toBe(200);
    } finally {
      Object.assign(db, { all, first, batch });
    }
    // One batch records the sighting and reads the machine, its assignments and profiles (the signing
    // key is cached after the first boot); one more records the boot and its event. Nothing else.
    const mine = seen.filter((s) => !auth(s));
    expect(mine.length, seen.join('\n')).toBe(2);
    expect(mine[0], seen.join('\n')).toMatch(/^batch \d+ /);
    expect(mine[1], seen.join('\n')).toMatch(/^batch \d+ INSERT INTO boots/);
    // Its size does not grow with the site: 50 other machines add no statement.
    expect(Number(mine[0]!.split(' ')[1])).toBeLessThanOrEqual(8);
    // The other machines' own assignments are not read at all.
    const m = (await call(t, 'GET', `/v1/machines?siteId=${site}&limit=1`)).body.items[0];
    expect((await loadCatalog(db, { mac: m.mac, siteId: site })).assignments.length).toBe(1);
  });
});
