import { describe, expect, it } from 'vitest';
import { parseSyncFeatures } from '../../shared/sync/features.ts';

describe('parseSyncFeatures', () => {
  it('reads the features a relay lists, in any case and spacing', () => {
    expect([...parseSyncFeatures('delta, pages')].sort()).toEqual(['delta', 'pages']);
    expect([...parseSyncFeatures(' PAGES ,websocket')]).toEqual(['pages']);
  });

  it('gives no features for a relay that sends no header (released before deltas and pages)', () => {
    expect(parseSyncFeatures(undefined).size).toBe(0);
    expect(parseSyncFeatures('').size).toBe(0);
  });
});
