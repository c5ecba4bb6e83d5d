/**
 * What one boot-script request costs the database, counted in round trips (on Workers each is a
 * network hop to D1): the real SQLite database behind a counting wrapper, the app in this process.
 * A behaviour, not a timing: the count is the same on a fast machine and a slow one.
 *
 * The sync hub that `siteChanges` stands for is another part of the app; here a recording test
 * double takes its place, to see which boots say that their site's snapshot inputs changed.
 */
import { describe, expect, it } from 'vitest';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../../cloud/src/ports/sql-database.ts';
import type { SiteChanges } from '../../cloud/src/ports/site-changes.ts';
import { inProcessTarget } from '../support/in-process.ts';
import { enrollBootRelay, signBootPath } from './api/boot.contract.ts';
import { createSite } from './fixtures.ts';
import { call, randomMac, unique } from './target.ts';

interface Counted {
  db: SqlDatabase;
  /** Round trips since the last `reset`: one per all/first/batch call. */
  trips: () => number;
  reset: () => void;
}

/** The real SQLite database, with each call counted on its way. */
function countingSqlite(): Counted {
  const sqlite = openSqlite(':memory:');
  migrateSqlite(sqlite.raw);
  let n = 0;
  const db: SqlDatabase = {
    all: (st: SqlStatement) => (n++, sqlite.all(st)),
    first: (st: SqlStatement) => (n++, sqlite.first(st)),
    batch: (sts: readonly SqlStatement[]) => (n++, sqlite.batch(sts)),
  };
  return { db, trips: () => n, reset: () => void (n = 0) };
}

/** Test double for the sync hub: remembers every scope it is told about. */
function recordingSiteChanges(): SiteChanges & { calls: (readonly string[] | 'all')[] } {
  const calls: (readonly string[] | 'all')[] = [];
  return { calls, changed: async (scope) => void calls.push(scope) };
}

async function world() {
  const counted = countingSqlite();
  const changes = recordingSiteChanges();
  const t = inProcessTarget({ db: counted.db, siteChanges: changes });
  const site = await createSite(t);
  const relay = await enrollBootRelay(t, site);
  const kernel = (await call(t, 'POST', '/v1/images', { json: { name: unique('k'), kind: 'kernel' } })).body.id as string;
  const p = (await call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec: { kind: 'linux', kernel, cmdline: 'token={{callbackToken}}' } } })).body;
  const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site, arch: 'bios' } })).body;
  const warm = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site, arch: 'bios' } })).body;
  for (const machineId of [m.id, warm.id]) await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { machineId } } });
  const boot = (mac: string, query = '&arch=0') => call<string>(t, 'GET', `/v1/relay/boot?mac=${mac}${query}`, { token: relay.token });
  // The relay's token is resolved once per app instance (auth/principal-cache.ts), and the signing key once a
  // minute: a first boot pays for both, so the counts below are of a boot on a warm instance.
  await boot(warm.mac);
  changes.calls.length = 0;
  return { t, counted, changes, site, relay, m, p, boot };
}

describe('database round trips of a boot-script request', () => {
  it('renders a boot in two round trips: one batch that records the sighting and reads the decision inputs, one that writes the boot', async () => {
    const { counted, m, boot } = await world();
    counted.reset();
    const r = await boot(m.mac);
    expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
    expect(counted.trips()).toBe(2);
  });

  it('answers the local disk in two round trips too (the script-rendered event is written after the decision)', async () => {
    const { counted, boot } = await world();
    // A machine this site has seen before, with nothing assigned and no site default.
    const mac = randomMac();
    await boot(mac);
    counted.reset();
    const r = await boot(mac);
    expect(r.headers.get('x-edgeboot-decision')).toBe('local');
    expect(counted.trips()).toBe(2);
  });

  it('costs a relay-signed direct boot one more round trip, to find the key that signed its URL', async () => {
    const { counted, m, relay, t } = await world();
    const path = `/v1/boot/${m.mac.replaceAll(':', '-')}`;
    const sig = await signBootPath(relay, path);
    counted.reset();
    const r = await call<string>(t, 'GET', `${path}?sig=${encodeURIComponent(sig)}&arch=0`, { token: null });
    expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
    expect(counted.trips()).toBe(3);
  });

  it("tells the sync hub about the site of a machine it has never seen, and of one whose architecture it learns", async () => {
    const { changes, boot, site, t } = await world();
    const fresh = randomMac();
    // Without option 93 there is no answer, but the machine is recorded all the same.
    expect((await boot(fresh, '')).status).toBe(404);
    expect(changes.calls).toEqual([[site]]);
    await boot(fresh, '&arch=7');
    expect(changes.calls).toEqual([[site], [site]]);
    const row = await t.deps.db.first<{ arch: string }>(sql('SELECT arch FROM machines WHERE mac = ?', fresh));
    expect(row?.arch).toBe('uefi-x64');
  });

  it('tells the sync hub when a boot moves its machine to provisioning, and stays quiet when a boot changes nothing it sends', async () => {
    const { changes, boot, m, site } = await world();
    await boot(m.mac);
    expect(changes.calls).toEqual([[site]]);
    // Same machine, same architecture, already provisioning: nothing in the site's snapshot moved.
    await boot(m.mac);
    expect(changes.calls).toEqual([[site]]);
  });
});
