import { mkdtempSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseJournal } from '../../../relay/src/dhcp/lease-journal.ts';
import { LeaseTable, type LeaseChange } from '../../../relay/src/dhcp/leases.ts';
import { createLogger } from '../../../relay/src/log.ts';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';
const HOUR = 3_600_000;

function table(range: [string, string], extra: { exclude?: string[] } = {}) {
  let t = 1_000_000;
  const changes: LeaseChange[] = [];
  const tbl = new LeaseTable({ first: range[0], last: range[1], offerHoldMs: 30_000, declineHoldMs: 600_000, now: () => t, onChange: (c) => changes.push(c), ...extra });
  return { tbl, changes, advance: (ms: number) => void (t += ms), now: () => t };
}

describe('lease table', () => {
  it('offers different addresses to clients discovering at the same time, lowest first', () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.20']);
    expect(tbl.offer(A)).toBe('10.0.0.10');
    expect(tbl.offer(B)).toBe('10.0.0.11');
    expect(tbl.offer(A)).toBe('10.0.0.10');
  });

  it('honours the requested address (option 50) when it is free, and not when another client holds it', () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.20']);
    expect(tbl.offer(A, '10.0.0.15')).toBe('10.0.0.15');
    expect(tbl.offer(B, '10.0.0.15')).toBe('10.0.0.10');
  });

  it('never offers an excluded address', () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.12'], { exclude: ['10.0.0.10', '10.0.0.11'] });
    expect(tbl.capacity).toBe(1);
    expect(tbl.offer(A, '10.0.0.10')).toBe('10.0.0.12');
    expect(tbl.offer(B)).toBeNull();
  });

  it('binds on REQUEST and journals the binding before returning', () => {
    const { tbl, changes, now } = table(['10.0.0.10', '10.0.0.20']);
    const ip = tbl.offer(A)!;
    const r = tbl.request(A, ip, HOUR);
    expect(r).toEqual({ ok: true, lease: { ip, mac: A, expiresAt: now() + HOUR } });
    expect(changes).toEqual([{ ip, mac: A, state: 'bound', expiresAt: now() + HOUR }]);
    expect(tbl.leaseOf(A)?.ip).toBe(ip);
    expect(tbl.holder(ip)).toBe(A);
  });

  it("refuses a REQUEST for another client's address and for an address outside the range", () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.20']);
    tbl.request(A, '10.0.0.12', HOUR);
    expect(tbl.request(B, '10.0.0.12', HOUR)).toEqual({ ok: false, reason: '10.0.0.12 is leased to another client' });
    expect(tbl.request(B, '10.0.0.99', HOUR)).toEqual({ ok: false, reason: "10.0.0.99 is not in this server's range" });
  });

  it('gives a client its previous address back after a release (affinity), unless someone else took it', () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.20']);
    tbl.request(A, tbl.offer(A)!, HOUR);
    tbl.request(B, tbl.offer(B)!, HOUR);
    expect(tbl.release(A, '10.0.0.10')).toBe(true);
    expect(tbl.release(A, '10.0.0.10')).toBe(false);
    expect(tbl.offer(A)).toBe('10.0.0.10');
  });

  it('answers an exhausted pool with null, and serves again after a release or an expiry', () => {
    const { tbl, advance } = table(['10.0.0.10', '10.0.0.11']);
    tbl.request(A, tbl.offer(A)!, HOUR);
    tbl.request(B, tbl.offer(B)!, 2 * HOUR);
    expect(tbl.offer(C)).toBeNull();
    expect(tbl.offer(C)).toBeNull();
    tbl.release(B, '10.0.0.11');
    expect(tbl.offer(C)).toBe('10.0.0.11');
    tbl.request(C, '10.0.0.11', 2 * HOUR);
    expect(tbl.offer('52:54:00:00:00:0d')).toBeNull();
    advance(HOUR);
    expect(tbl.offer('52:54:00:00:00:0d')).toBe('10.0.0.10');
  });

  it('lets an unanswered offer lapse after the hold time', () => {
    const { tbl, advance } = table(['10.0.0.10', '10.0.0.10']);
    expect(tbl.offer(A)).toBe('10.0.0.10');
    expect(tbl.offer(B)).toBeNull();
    advance(30_000);
    expect(tbl.offer(B)).toBe('10.0.0.10');
  });

  it('frees a held offer when the client takes another server', () => {
    const { tbl } = table(['10.0.0.10', '10.0.0.10']);
    tbl.offer(A);
    tbl.cancelOffer(A);
    expect(tbl.offer(B)).toBe('10.0.0.10');
  });

  it('quarantines a declined address for the hold time, for everyone', () => {
    const { tbl, changes, advance } = table(['10.0.0.10', '10.0.0.11']);
    tbl.request(A, tbl.offer(A)!, HOUR);
    expect(tbl.decline(A, '10.0.0.10')).toBe(true);
    expect(changes.at(-1)).toMatchObject({ ip: '10.0.0.10', mac: '', state: 'declined' });
    expect(tbl.offer(A)).toBe('10.0.0.11');
    expect(tbl.request(B, '10.0.0.10', HOUR).ok).toBe(false);
    advance(600_000);
    expect(tbl.request(B, '10.0.0.10', HOUR).ok).toBe(true);
  });

  it('moves a client that REQUESTs a new address off its old one', () => {
    const { tbl, changes } = table(['10.0.0.10', '10.0.0.20']);
    tbl.request(A, '10.0.0.10', HOUR);
    tbl.request(A, '10.0.0.15', HOUR);
    expect(tbl.holder('10.0.0.10')).toBeUndefined();
    expect(changes.map((c) => [c.ip, c.state])).toEqual([
      ['10.0.0.10', 'bound'],
      ['10.0.0.10', 'free'],
      ['10.0.0.15', 'bound'],
    ]);
    expect(tbl.offer(B)).toBe('10.0.0.11');
  });

  it('rebuilds the same state from its own journal entries', () => {
    const { tbl, changes } = table(['10.0.0.10', '10.0.0.20']);
    tbl.request(A, tbl.offer(A)!, HOUR);
    tbl.request(B, tbl.offer(B)!, HOUR);
    tbl.request(C, tbl.offer(C)!, HOUR);
    tbl.decline(C, '10.0.0.12');
    tbl.release(B, '10.0.0.11');
    const again = table(['10.0.0.10', '10.0.0.20']);
    for (const c of changes) again.tbl.restore(c);
    expect(again.tbl.leaseOf(A)?.ip).toBe('10.0.0.10');
    expect(again.tbl.offer(B)).toBe('10.0.0.11');
    expect(again.tbl.request(A, '10.0.0.12', HOUR).ok).toBe(false);
    expect([...again.tbl.entries()].length).toBe(3);
  });

  it('stays O(1) per DISCOVER once a large pool is exhausted (a storm does not rescan it)', () => {
    const { tbl } = table(['10.1.0.1', '10.1.255.254']);
    for (let i = 0; i < tbl.capacity; i++) tbl.request(`02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, tbl.offer(`02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`)!, HOUR);
    // Count how often the table walks its entries: after the first failed scan, none until something frees.
    let walks = 0;
    const values = Map.prototype.values;
    Map.prototype.values = function (this: Map<unknown, unknown>) {
      walks++;
      return values.call(this);
    } as typeof values;
    try {
      for (let i = 0; i < 1000; i++) expect(tbl.offer(`06:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`)).toBeNull();
    } finally {
      Map.prototype.values = values;
    }
    expect(walks).toBe(1);
  });
});

describe('lease journal', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const log = createLogger({ write: () => {} });
  const path = () => {
    const d = mkdtempSync(join(tmpdir(), 'edgeboot-leases-'));
    dirs.push(d);
    return join(d, 'leases.jsonl');
  };

  it('reads back what it appended, in order', () => {
    const p = path();
    const j = new LeaseJournal({ path: p, log });
    j.append({ ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: 5 });
    j.append({ ip: '10.0.0.10', mac: A, state: 'free', expiresAt: 6 });
    j.close();
    expect(new LeaseJournal({ path: p, log }).load()).toEqual([
      { ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: 5 },
      { ip: '10.0.0.10', mac: A, state: 'free', expiresAt: 6 },
    ]);
  });

  it('skips a torn last line and lines that are not lease changes, and counts them', () => {
    const p = path();
    const j = new LeaseJournal({ path: p, log });
    j.append({ ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: 5 });
    j.close();
    appendFileSync(p, '{"ip":"10.0.0.11","mac":"x","state":"bound","expiresAt":7,"extra":1}\n{"ip":"10.0.0.12","mac":"y","state":"weird","expiresAt":7}\n{"ip":"10.0.0.1');
    const again = new LeaseJournal({ path: p, log });
    expect(again.load()).toEqual([{ ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: 5 }]);
    expect(again.skipped).toBe(3);
  });

  it('compacts to the live entries and keeps appending after them', async () => {
    const p = path();
    const j = new LeaseJournal({ path: p, log, compactMargin: 4 });
    for (let i = 0; i < 10; i++) j.append({ ip: '10.0.0.10', mac: A, state: i % 2 ? 'free' : 'bound', expiresAt: i });
    expect(j.wantsCompaction(1)).toBe(true);
    await j.compact([{ ip: '10.0.0.10', mac: A, state: 'free', expiresAt: 9 }]);
    expect(j.wantsCompaction(1)).toBe(false);
    j.append({ ip: '10.0.0.11', mac: B, state: 'bound', expiresAt: 10 });
    j.close();
    expect(readFileSync(p, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(new LeaseJournal({ path: p, log }).load().map((c) => c.ip)).toEqual(['10.0.0.10', '10.0.0.11']);
  });

  it('loses nothing appended while a compaction is writing off the loop, and starts no second one', async () => {
    const p = path();
    const j = new LeaseJournal({ path: p, log, compactMargin: 0 });
    for (let i = 0; i < 6; i++) j.append({ ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: i });
    const running = j.compact([{ ip: '10.0.0.10', mac: A, state: 'bound', expiresAt: 5 }]);
    expect(j.wantsCompaction(0)).toBe(false);
    j.append({ ip: '10.0.0.11', mac: B, state: 'bound', expiresAt: 6 });
    j.append({ ip: '10.0.0.12', mac: C, state: 'bound', expiresAt: 7 });
    await running;
    j.append({ ip: '10.0.0.13', mac: '52:54:00:00:00:0d', state: 'bound', expiresAt: 8 });
    j.close();
    expect(new LeaseJournal({ path: p, log }).load().map((c) => `${c.ip}@${c.expiresAt}`)).toEqual(['10.0.0.10@5', '10.0.0.11@6', '10.0.0.12@7', '10.0.0.13@8']);
  });

  it('compacts a large table a slice per turn of the loop, and the journal still rebuilds the table changed meanwhile', async () => {
    const p = path();
    const j = new LeaseJournal({ path: p, log, compactMargin: 0 });
    const mac = (i: number) => `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    const journaled = new LeaseTable({ first: '10.2.0.1', last: '10.2.39.254', offerHoldMs: 30_000, declineHoldMs: 600_000, now: () => 1_000_000, onChange: (c) => j.append(c) });
    for (let i = 0; i < 6_000; i++) journaled.request(mac(i), journaled.offer(mac(i))!, HOUR);
    // A turn counter: which turn of the loop each entry was read in.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const readIn = new Set<number>();
    const entries = journaled.entries();
    const spy = { *[Symbol.iterator]() { for (const e of entries) { readIn.add(turn); yield e; } } };
    const running = j.compact(spy);
    // Meanwhile the table keeps changing: releases, new clients, a decline.
    let changed = 0;
    const churn = () => {
      if (changed >= 300) return;
      const i = changed++;
      if (i % 3 === 0) journaled.release(mac(i), journaled.leaseOf(mac(i))!.ip);
      else if (i % 3 === 1) journaled.request(mac(10_000 + i), journaled.offer(mac(10_000 + i))!, HOUR);
      else journaled.decline(mac(i), journaled.leaseOf(mac(i))!.ip);
      setImmediate(churn);
    };
    setImmediate(churn);
    await running;
    ticking = false;
    expect(readIn.size).toBeGreaterThan(5);
    expect(changed).toBeGreaterThan(0);
    while (changed < 300) await new Promise((r) => setImmediate(r));
    j.close();
    const again = new LeaseTable({ first: '10.2.0.1', last: '10.2.39.254', now: () => 1_000_000 });
    for (const c of new LeaseJournal({ path: p, log }).load()) again.restore(c);
    const key = (c: LeaseChange) => `${c.ip} ${c.mac} ${c.state} ${c.expiresAt}`;
    expect([...again.entries()].map(key).sort()).toEqual([...journaled.entries()].map(key).sort());
    expect(readFileSync(p, 'utf8').trim().split('\n').length).toBeLessThan(6_000 + 2 * 300 + 10);
  });
});
