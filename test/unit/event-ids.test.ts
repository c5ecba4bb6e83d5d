import { describe, expect, it } from 'vitest';
import { idPattern, newId } from '../../shared/ids.ts';
import { EventIds } from '../../relay/src/sync/event-ids.ts';

describe("the relay's event ids", () => {
  it('are ids of the shared format whose time part is the time given', () => {
    const ids = new EventIds();
    const at = Date.UTC(2026, 11, 7, 6, 0, 0, 123);
    const id = ids.next(at);
    expect(id).toMatch(idPattern('event'));
    // The first 10 characters after the prefix encode the millisecond, as newId's do.
    expect(id.slice(0, 14)).toBe(newId('event', at).slice(0, 14));
    expect(ids.next(at + 1).slice(0, 14)).toBe(newId('event', at + 1).slice(0, 14));
  });

  it('never repeat across many refills of the random pool, within one millisecond', () => {
    const ids = new EventIds();
    const seen = new Set(Array.from({ length: 20_000 }, () => ids.next(1_765_000_000_000)));
    expect(seen.size).toBe(20_000);
  });
});
