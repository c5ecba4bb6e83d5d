import { describe, expect, it } from 'vitest';
import { idPattern, newId } from '../../shared/ids.ts';

describe('newId', () => {
  it('sorts by creation time', () => {
    const ids = [5, 1_000, 1_700_000_000_000, 1_700_000_000_001, 4_000_000_000_000].map((t) => newId('machine', t));
    expect([...ids].sort()).toEqual(ids);
  });

  it('matches its own pattern and differs every call', () => {
    const a = newId('site');
    const b = newId('site');
    expect(a).toMatch(idPattern('site'));
    expect(a).not.toBe(b);
    expect(a).not.toMatch(idPattern('machine'));
  });
});
