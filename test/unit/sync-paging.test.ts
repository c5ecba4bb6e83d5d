import { describe, expect, it } from 'vitest';
import { base64url } from '../../shared/crypto/base64url.ts';
import { RelaySnapshot, RelaySnapshotPage } from '../../shared/schemas/relay-sync.ts';
import { decodeCursor, encodeCursor, firstPage, pageAfter, SYNC_PAGE_MACHINES, SyncCursorError } from '../../shared/sync/paging.ts';
import { snapshotVersion } from '../../shared/sync/snapshot-version.ts';
import { macOf, siteOf } from './sync-fixtures.ts';

const text = (s: string) => base64url(new TextEncoder().encode(s));

describe('firstPage and pageAfter', () => {
  it('sends a snapshot of up to a page as it is, without next', () => {
    const s = siteOf(SYNC_PAGE_MACHINES);
    expect(firstPage(s)).toEqual(s);
    expect('next' in firstPage(s)).toBe(false);
    expect('next' in firstPage({ ...s, next: 'stale' })).toBe(false);
  });

  it('splits one machine over a page into two pages', () => {
    const s = siteOf(SYNC_PAGE_MACHINES + 1);
    const first = firstPage(s);
    expect(first.machines).toHaveLength(SYNC_PAGE_MACHINES);
    const second = pageAfter(s, first.next!);
    expect(second).toEqual({ version: s.version, machines: [s.machines[SYNC_PAGE_MACHINES]], next: null });
  });

  it('round-trips a 50,000-machine snapshot through 10 pages that each parse and that assemble to its version', () => {
    const s = siteOf(50_000);
    const first = RelaySnapshot.parse(JSON.parse(JSON.stringify(firstPage(s))));
    expect(first).toMatchObject({ version: s.version, siteId: s.siteId, unknownMachines: s.unknownMachines });
    const machines = [...first.machines];
    let next = first.next ?? null;
    let pages = 1;
    while (next !== null) {
      const page = RelaySnapshotPage.parse(JSON.parse(JSON.stringify(pageAfter(s, next))));
      expect(page.version).toBe(s.version);
      expect(page.machines.length).toBeLessThanOrEqual(SYNC_PAGE_MACHINES);
      machines.push(...page.machines);
      next = page.next;
      pages++;
    }
    expect(pages).toBe(10);
    expect(machines).toEqual(s.machines);
    expect(snapshotVersion({ siteId: first.siteId, unknownMachines: first.unknownMachines, machines })).toBe(s.version);
  });

  it('refuses a cursor past the end or from another snapshot', () => {
    const s = siteOf(SYNC_PAGE_MACHINES + 10);
    expect(() => pageAfter(s, encodeCursor({ index: SYNC_PAGE_MACHINES + 10, lastMac: macOf(SYNC_PAGE_MACHINES + 9) }))).toThrow(/invalid sync cursor: points past the end/);
    expect(() => pageAfter(s, encodeCursor({ index: SYNC_PAGE_MACHINES, lastMac: '52:54:00:00:00:01' }))).toThrow(/invalid sync cursor: does not belong to this snapshot/);
  });
});

describe('decodeCursor', () => {
  it('reads back what encodeCursor wrote', () => {
    expect(decodeCursor(encodeCursor({ index: 5000, lastMac: '02:00:00:00:13:87' }))).toEqual({ index: 5000, lastMac: '02:00:00:00:13:87' });
  });

  it.each([
    ['empty', '', /not a base64url string/],
    ['not base64url', 'abc$def', /not a base64url string/],
    ['too long', 'a'.repeat(201), /not a base64url string/],
    ['invalid UTF-8', base64url(new Uint8Array([0xff, 0xfe, 0xfd])), /does not decode to text/],
    ['other text', text('hello'), /not a cursor this cloud issued/],
    ['index 0', text('c1:0:02:00:00:00:00:00'), /not a cursor this cloud issued/],
    ['negative index', text('c1:-5:02:00:00:00:00:00'), /not a cursor this cloud issued/],
    ['no MAC', text('c1:5000:'), /not a cursor this cloud issued/],
    ['another format version', text('c2:5000:02:00:00:00:00:00'), /not a cursor this cloud issued/],
  ])('refuses a garbage cursor (%s) with SyncCursorError', (_name, cursor, message) => {
    expect(() => decodeCursor(cursor)).toThrow(SyncCursorError);
    expect(() => decodeCursor(cursor)).toThrow(message);
  });
});
