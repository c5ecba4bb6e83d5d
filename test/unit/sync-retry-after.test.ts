import { describe, expect, it } from 'vitest';
import { RETRY_AFTER_CAP_MS, retryAfterMs } from '../../relay/src/sync/retry-after.ts';

const NOW = Date.parse('2026-12-07T07:00:00Z');

describe('retryAfterMs', () => {
  it('reads a number of seconds', () => {
    expect(retryAfterMs('5', NOW)).toBe(5_000);
    expect(retryAfterMs(' 0 ', NOW)).toBe(0);
  });

  it('reads an HTTP date as the time left until it, and a past date as 0', () => {
    expect(retryAfterMs('Mon, 07 Dec 2026 07:02:00 GMT', NOW)).toBe(120_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 06:59:00 GMT', NOW)).toBe(0);
  });

  it('caps the wait at 300 s, however far the cloud asks', () => {
    expect(RETRY_AFTER_CAP_MS).toBe(300_000);
    expect(retryAfterMs('86400', NOW)).toBe(300_000);
    expect(retryAfterMs('Fri, 01 Jan 2100 00:00:00 GMT', NOW)).toBe(300_000);
  });

  it.each([[undefined], [''], ['soon'], ['-5'], ['1.5'], ['5 s'], ['2026-13-45']])('gives null for a missing or unreadable value (%j)', (v) => {
    expect(retryAfterMs(v, NOW)).toBeNull();
  });
});
