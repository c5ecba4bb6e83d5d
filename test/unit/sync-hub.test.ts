import { describe, expect, it } from 'vitest';
import { countedDatabase, dbRoundTrips, type DbRoundTrips } from '../../cloud/src/observability/db-queries.ts';
import type { SqlDatabase } from '../../cloud/src/ports/sql-database.ts';
import { SiteSyncHub } from '../../cloud/src/sync/hub.ts';
import { SYNC_FEATURES, type SyncFeature } from '../../shared/sync/features.ts';
import type { SyncAnswer } from '../../cloud/src/sync/site-sync.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';
import { inProcessTarget } from '../support/in-process.ts';

/**
 * The hub over a real SQLite database that the app writes through its API. The hub under test is
 * not the app's (the app tells its own): here changes are told by hand, so each case decides what
 * the hub hears, and its round trips are read from its own counters.
 */

async function world() {
  const t = inProcessTarget();
  const admin = async (method: string, path: string, json?: unknown) => {
    const r = await call(t, method, path, { json });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.body;
  };
  const machine = (siteId: string) => admin('POST', '/v1/machines', { mac: randomMac(), siteId });
  /** A site with a few machines, so that a delta of one machine is smaller than the whole. */
  const site = async () => {
    const id = (await admin('POST', '/v1/sites', { name: unique('hub') })).id as string;
    for (let i = 0; i < 4; i++) await machine(id);
    return id;
  };
  return { t, admin, site, machine };
}

function hubOver(db: SqlDatabase, o: { now?: () => number; ttlMs?: number; pageMachines?: number; minRecomputeMs?: number } = {}): { hub: SiteSyncHub; trips: DbRoundTrips } {
  const trips = dbRoundTrips();
  const hub = new SiteSyncHub({ db: countedDatabase(db, trips), roundTrips: trips, now: o.now ?? (() => Date.now()), ttlMs: o.ttlMs, pageMachines: o.pageMachines, minRecomputeMs: o.minRecomputeMs ?? 0, random: () => 0.5 });
  return { hub, trips };
}

const total = (t: DbRoundTrips) => t.all + t.first + t.batch;
const etagOf = (a: SyncAnswer) => (a.kind === 'snapshot' || a.kind === 'delta' || a.kind === 'unchanged' ? a.etag : null);
/** A request from a relay of issue 16 or later, which reads deltas and pages. */
const req = (siteId: string, ifNoneMatch?: string, waitMs = 0, relayId = unique('relay'), features: SyncFeature[] = [...SYNC_FEATURES]) => ({ siteId, relayId, ifNoneMatch, waitMs, features });

/**
 * Test double: the real SQLite database whose `all` answers wait while a hold is set, the wait
 * coming before the read or after it (a computation caught between its reads and its end).
 */
function holdable(db: SqlDatabase, at: 'before-read' | 'after-read') {
  let hold: Promise<void> | null = null;
  const held: SqlDatabase = {
    all: async (s) => {
      if (at === 'before-read') await hold;
      const rows = await db.all(s);
      if (at === 'after-read') await hold;
      return rows as never;
    },
    first: (s) => db.first(s),
    batch: (s) => db.batch(s),
  };
  return { db: held, hold: (p: Promise<void> | null) => void (hold = p) };
}

describe('SiteSyncHub', () => {
  it('answers many idle waits of a site without one database round trip once its snapshot is cached', async () => {
    const w = await world();
    const siteId = await w.site();
    const { hub, trips } = hubOver(w.t.deps.db);
    const first = await hub.sync(req(siteId));
    expect(first.kind).toBe('snapshot');
    // One computation: the site row, then machines, assignments, profiles and consumptions.
    expect(total(trips)).toBe(5);
    expect(first.kind === 'snapshot' && first.body.machines).toHaveLength(4);
    const answers = await Promise.all(Array.from({ length: 50 }, () => hub.sync(req(siteId, etagOf(first)!, 300))));
    expect(answers.map((a) => a.kind)).toEqual(Array(50).fill('unchanged'));
    expect(total(trips)).toBe(5);
    expect((await hub.stats()).computed).toBe(1);
  });

  it('computes a changed site once however many relays wait on it, and wakes only that site', async () => {
    const w = await world();
    const [lyon, paris] = [await w.site(), await w.site()];
    const { hub } = hubOver(w.t.deps.db);
    const lyonTag = etagOf(await hub.sync(req(lyon)))!;
    const parisTag = etagOf(await hub.sync(req(paris)))!;
    const lyonWaits = Array.from({ length: 5 }, () => hub.sync(req(lyon, lyonTag, 20_000)));
    const parisWaits = Array.from({ length: 3 }, () => hub.sync(req(paris, parisTag, 400)));
    await w.machine(lyon);
    const before = await hub.stats();
    expect(before.waiting).toBe(8);
    await hub.changed([lyon]);
    await hub.settled();
    const woken = await Promise.all(lyonWaits);
    expect(woken.map((a) => a.kind)).toEqual(Array(5).fill('delta'));
    expect(new Set(woken.map(etagOf)).size).toBe(1);
    expect((await Promise.all(parisWaits)).map((a) => a.kind)).toEqual(Array(3).fill('unchanged'));
    const after = await hub.stats();
    expect(after.computed - before.computed).toBe(1);
    expect(after.woken).toBe(5);
  });

  it("computes every cached site once on 'all' and wakes only the sites whose version moved", async () => {
    const w = await world();
    const profile = await w.admin('POST', '/v1/profiles', { name: unique('hub-p'), spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } });
    const uses = await w.site();
    const other = await w.site();
    await w.admin('PATCH', `/v1/sites/${uses}`, { defaultProfileId: profile.id });
    const { hub } = hubOver(w.t.deps.db);
    const usesTag = etagOf(await hub.sync(req(uses)))!;
    const otherTag = etagOf(await hub.sync(req(other)))!;
    const usesWait = hub.sync(req(uses, usesTag, 20_000));
    const otherWait = hub.sync(req(other, otherTag, 400));
    await w.admin('PATCH', `/v1/profiles/${profile.id}`, { spec: { kind: 'local' } });
    await hub.changed('all');
    await hub.settled();
    const a = await usesWait;
    expect((a.kind === 'delta' || a.kind === 'snapshot') && a.body.unknownMachines).toEqual({ netboot: false });
    expect((await otherWait).kind).toBe('unchanged');
    const s = await hub.stats();
    expect(s.computed).toBe(4);
    expect(s.woken).toBe(1);
  });

  it('computes again after a running computation when a change arrives during it', async () => {
    const w = await world();
    const siteId = await w.site();
    // A computation caught after its reads and before it finishes.
    const held = holdable(w.t.deps.db, 'after-read');
    const { hub } = hubOver(held.db);
    const tag = etagOf(await hub.sync(req(siteId)))!;
    const waiting = hub.sync(req(siteId, tag, 20_000));
    const m1 = await w.machine(siteId);
    const release = Promise.withResolvers<void>();
    held.hold(release.promise);
    const first = hub.changed([siteId]);
    await new Promise((resolve) => setTimeout(resolve, 20)); // its reads are done, its answers held
    const m2 = await w.machine(siteId);
    const second = hub.changed([siteId]);
    held.hold(null);
    release.resolve();
    await Promise.all([first, second]);
    await hub.settled();
    // The second change was not folded into the computation already under way: it ran again after it.
    expect((await hub.stats()).computed).toBe(3);
    // The waiting relay, woken by the first, answers after the computation under way: both machines.
    const a = await waiting;
    expect(a.kind === 'delta' && a.body.upsert.map((m) => m.mac).sort()).toEqual([m1.mac, m2.mac].sort());
    const now = await hub.sync(req(siteId));
    expect(now.kind === 'snapshot' && [m1.mac, m2.mac].every((mac) => now.body.machines.some((m) => m.mac === mac))).toBe(true);
  });

  it('paces a storm of changes at one site: a computation at most every minRecomputeMs, the last one seeing every change', async () => {
    const w = await world();
    const siteId = await w.site();
    const { hub } = hubOver(w.t.deps.db, { minRecomputeMs: 300 });
    const tag = etagOf(await hub.sync(req(siteId)))!;
    const waiting = hub.sync(req(siteId, tag, 20_000));
    const macs: string[] = [];
    const started = performance.now();
    // 20 boots teaching 20 machines, told one by one as the boot route tells them.
    for (let i = 0; i < 20; i++) {
      macs.push((await w.machine(siteId)).mac);
      await hub.changed([siteId]);
    }
    const told = performance.now() - started;
    await hub.settled();
    const computed = (await hub.stats()).computed - 1;
    // One computation at once, then at most one per 300 ms of the storm, plus the one after it.
    expect(computed).toBeGreaterThanOrEqual(1);
    expect(computed).toBeLessThanOrEqual(2 + Math.floor(told / 300));
    expect(computed).toBeLessThan(20);
    expect((await waiting).kind).toBe('delta');
    const now = await hub.sync(req(siteId));
    expect(now.kind === 'snapshot' && macs.every((mac) => now.body.machines.some((m) => m.mac === mac))).toBe(true);
  });

  it('records a change without waiting for its computation (the request that made it answers at once)', async () => {
    const w = await world();
    const siteId = await w.site();
    const held = holdable(w.t.deps.db, 'before-read');
    const { hub } = hubOver(held.db);
    await hub.sync(req(siteId));
    const release = Promise.withResolvers<void>();
    held.hold(release.promise);
    await w.machine(siteId);
    await hub.changed([siteId]); // resolves though the computation's reads are held
    expect((await hub.stats()).computed).toBe(1);
    held.hold(null);
    release.resolve();
    await hub.settled();
    expect((await hub.stats()).computed).toBe(2);
  });

  it('computes a cached site again once its TTL has passed, though no change was told', async () => {
    const w = await world();
    const siteId = await w.site();
    let now = 1_000_000;
    const { hub, trips } = hubOver(w.t.deps.db, { now: () => now, ttlMs: 60_000 });
    const tag = etagOf(await hub.sync(req(siteId)))!;
    const m = await w.machine(siteId);
    now += 47_000; // the TTL is 60 s ± 20 %; random 0.5 puts this one at exactly 60 s
    expect((await hub.sync(req(siteId, tag))).kind).toBe('unchanged');
    expect(total(trips)).toBe(5);
    now += 13_001;
    const a = await hub.sync(req(siteId, tag));
    expect(a.kind === 'delta' && a.body.upsert.map((x) => x.mac)).toEqual([m.mac]);
    expect(total(trips)).toBe(10);
  });

  it('refuses the 21st request of one relay within 10 s with the seconds until its window has room', async () => {
    const w = await world();
    const siteId = await w.site();
    let now = 5_000_000;
    const { hub } = hubOver(w.t.deps.db, { now: () => now });
    const kinds: string[] = [];
    for (let i = 0; i < 20; i++) {
      kinds.push((await hub.sync(req(siteId, undefined, 0, 'relay-loop'))).kind);
      now += 100;
    }
    expect(kinds).toEqual(Array(20).fill('snapshot'));
    // The window started 2 s ago at the first request: room again 8 s from now.
    expect(await hub.sync(req(siteId, undefined, 0, 'relay-loop'))).toEqual({ kind: 'too_many', retryAfterSeconds: 8 });
    expect((await hub.sync(req(siteId, undefined, 0, 'relay-calm'))).kind).toBe('snapshot');
    now += 8_000;
    expect((await hub.sync(req(siteId, undefined, 0, 'relay-loop'))).kind).toBe('snapshot');
    expect((await hub.stats()).tooMany).toBe(1);
  });

  it("gives a full snapshot for another site's version and counts it as foreign, and a forgotten one as unknown", async () => {
    const w = await world();
    const [a, b] = [await w.site(), await w.site()];
    const { hub } = hubOver(w.t.deps.db);
    const aTag = etagOf(await hub.sync(req(a)))!;
    await hub.sync(req(b));
    const r = await hub.sync(req(b, aTag));
    expect(r.kind === 'snapshot' && r.body.siteId).toBe(b);
    expect((await hub.sync(req(b, '"0123456789abcdef0123456789abcdef"'))).kind).toBe('snapshot');
    const s = await hub.stats();
    expect([s.foreignVersions, s.unknownVersions]).toEqual([1, 1]);
  });

  it('keeps deltas to the versions it remembers: the last three', async () => {
    const w = await world();
    const siteId = await w.site();
    const { hub } = hubOver(w.t.deps.db);
    const tags: string[] = [etagOf(await hub.sync(req(siteId)))!];
    for (let i = 0; i < 4; i++) {
      await w.machine(siteId);
      await hub.changed([siteId]);
      await hub.settled();
      tags.push(etagOf(await hub.sync(req(siteId)))!);
    }
    const kinds = await Promise.all(tags.map(async (tag) => (await hub.sync(req(siteId, tag))).kind));
    // Oldest first: forgotten, three remembered, current.
    expect(kinds).toEqual(['snapshot', 'delta', 'delta', 'delta', 'unchanged']);
  });

  it('gives a relay that lists no features (released before deltas and pages) its whole site: no delta, no paging', async () => {
    const w = await world();
    const siteId = await w.site();
    const { hub } = hubOver(w.t.deps.db, { pageMachines: 2 });
    const old = (tag?: string) => hub.sync(req(siteId, tag, 0, unique('relay'), []));
    const first = await old();
    expect(first.kind === 'snapshot' && first.body.next === undefined && first.body.machines.length).toBe(4);
    await w.machine(siteId);
    await hub.changed([siteId]);
    await hub.settled();
    const after = await old(etagOf(first)!);
    expect(after.kind === 'snapshot' && after.body.machines.length).toBe(5);
    // The same versions, asked by a relay that reads both: a delta, and a first page with `next`.
    const now = await hub.sync(req(siteId, etagOf(first)!));
    expect(now.kind).toBe('delta');
    const paged = await hub.sync(req(siteId));
    expect(paged.kind === 'snapshot' && paged.body.machines.length).toBe(2);
    expect(paged.kind === 'snapshot' && typeof paged.body.next).toBe('string');
    // Only deltas, or only pages, are honoured as listed.
    const deltaOnly = await hub.sync(req(siteId, undefined, 0, unique('relay'), ['delta']));
    expect(deltaOnly.kind === 'snapshot' && deltaOnly.body.next === undefined && deltaOnly.body.machines.length).toBe(5);
    const pagesOnly = await hub.sync(req(siteId, etagOf(first)!, 0, unique('relay'), ['pages']));
    expect(pagesOnly.kind === 'snapshot' && pagesOnly.body.machines.length).toBe(2);
  });

  it('keeps the last good snapshot when a computation fails, and computes again on the next request', async () => {
    const w = await world();
    const siteId = await w.site();
    let failing = false;
    // Test double: the real SQLite database, failing on demand like a database that went away.
    const flaky: SqlDatabase = {
      all: (s) => (failing ? Promise.reject(new Error('database unavailable')) : w.t.deps.db.all(s)),
      first: (s) => (failing ? Promise.reject(new Error('database unavailable')) : w.t.deps.db.first(s)),
      batch: (s) => w.t.deps.db.batch(s),
    };
    const { hub } = hubOver(flaky);
    const tag = etagOf(await hub.sync(req(siteId)))!;
    const m = await w.machine(siteId);
    failing = true;
    await hub.changed([siteId]);
    await hub.settled();
    expect(await hub.sync(req(siteId, tag))).toEqual({ kind: 'unchanged', etag: tag });
    failing = false;
    const a = await hub.sync(req(siteId, tag));
    expect(a.kind === 'delta' && a.body.upsert.map((x) => x.mac)).toEqual([m.mac]);
  });

  it('wakes a power-jobs wait when a job is queued at its site, not at another', async () => {
    const w = await world();
    const [a, b] = [await w.site(), await w.site()];
    const { hub } = hubOver(w.t.deps.db);
    const order: string[] = [];
    const waitA = hub.waitForJobs(a, 20_000).then(() => order.push('a'));
    const waitB = hub.waitForJobs(b, 400).then(() => order.push('b'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await hub.jobsQueued(a);
    await Promise.all([waitA, waitB]);
    expect(order).toEqual(['a', 'b']);
    expect((await hub.stats()).waiting).toBe(0);
  });

  it('answers no_site for a site that does not exist, and a page of a version that is gone', async () => {
    const w = await world();
    const siteId = await w.site();
    const { hub } = hubOver(w.t.deps.db);
    expect(await hub.sync(req('site_nope'))).toEqual({ kind: 'no_site' });
    expect(await hub.page({ siteId, version: 'f'.repeat(32), cursor: 'x' })).toEqual({ kind: 'gone' });
  });
});
