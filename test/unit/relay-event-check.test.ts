import { describe, expect, it } from 'vitest';
import { fastRelayEvent, fastRelayEventBatch, RelayEvent, RelayEventBatch } from '../../shared/schemas/boot-events.ts';

/** What the relay's queue writes for a proxy offer: the spelling the fast check is for. */
const canonical = (n: number): Record<string, unknown> => ({
  id: `evt_01kc${String(n).padStart(22, '0')}`,
  mac: `02:00:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
  stage: 'proxy-offer',
  at: new Date(Date.UTC(2026, 11, 7, 4, 0, 0, n % 1000)).toISOString(),
  detail: { kind: 'pxe', arch: 'x64-uefi', boot: 'ipxe.efi' },
});

/** Values each field is tried with: right ones, near misses, other spellings the schema normalises, wrong types. */
const TRIES: Record<string, unknown[]> = {
  id: ['evt_12345678', 'abcdefgh', 'short', 'has space in it', 'x'.repeat(64), 'x'.repeat(65), 'évènement_1', 5, null, undefined],
  mac: ['52:54:00:12:34:56', '52-54-00-12-34-56', '5254.0012.3456', '525400123456', '52:54:00:12:34:5G', '52%3A54%3A00%3A12%3A34%3A56', 'not-a-mac', ' 52:54:00:12:34:56', '52:54:00:12:34:56:78', 7, null],
  stage: ['dhcp-discover', 'loader-failed', 'script-rendered', 'callback-succeeded', 'lunch', '', 3],
  at: [
    '2026-12-07T04:00:00.000Z',
    '2024-02-29T23:59:59.999Z',
    '2025-02-29T00:00:00.000Z',
    '2000-02-29T00:00:00.000Z',
    '2100-02-29T00:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2026-04-30T23:59:59.000Z',
    '2026-00-10T00:00:00.000Z',
    '2026-12-00T00:00:00.000Z',
    '2026-12-31T23:59:59.999Z',
    '2026-12-32T00:00:00.000Z',
    '2026-12-07T24:00:00.000Z',
    '2026-12-07T04:00:60.000Z',
    '2026-13-07T04:00:00.000Z',
    '2026-12-07T04:00:00Z',
    '2026-12-07T04:00:00.1Z',
    '2026-12-07T04:00:00.000+00:00',
    '2026-12-07 04:00:00.000Z',
    '+012026-12-07T04:00:00.000Z',
    '0000-01-01T00:00:00.000Z',
    'yesterday',
    1765080000000,
    null,
  ],
  durationMs: [0, 1, 86_400_000, 86_400_001, -1, 1.5, -0, Number.NaN, '10', null, undefined],
  bootId: ['boot_0123456789abcdefghjkmnpqrs', 'boot_0123456789ABCDEFGHJKMNPQRS', 'boot_nope', '', 5, undefined],
  detail: [
    {},
    { file: 'ipxe.efi', bytes: 1_000_000, proxy: true, error: null },
    { text: 'y'.repeat(256) },
    { text: 'y'.repeat(257) },
    { ['k'.repeat(64)]: 1 },
    { ['k'.repeat(65)]: 1 },
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
    Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])),
    { nested: { a: 1 } },
    { list: [1] },
    JSON.parse('{"__proto__":{"role":"admin"}}'),
    { n: 1.25e-7 },
    'text',
    [],
    null,
    undefined,
  ],
  extra: [true, undefined],
};

/** Every single-field variation of a canonical event, plus some events missing a field. */
function variants(): unknown[] {
  const out: unknown[] = [];
  let n = 0;
  for (const [field, values] of Object.entries(TRIES)) {
    for (const v of values) {
      const e = canonical(n++);
      if (v === undefined && field !== 'extra') delete e[field];
      e[field] = v;
      out.push(e);
    }
  }
  for (const field of ['id', 'mac', 'stage', 'at']) {
    const e = canonical(n++);
    delete e[field];
    out.push(e);
  }
  return out;
}

describe('the fast relay event check', () => {
  it('never accepts what the RelayEvent schema refuses, and what it accepts parses to itself', () => {
    let accepted = 0;
    for (const e of variants()) {
      const fast = fastRelayEvent(e);
      if (fast === null) continue;
      accepted++;
      const slow = RelayEvent.safeParse(e);
      expect(slow.success, JSON.stringify(e)).toBe(true);
      expect(fast, JSON.stringify(e)).toEqual(slow.data);
    }
    // The fast path is taken for the canonical spelling (else it would save nothing).
    expect(accepted).toBeGreaterThan(20);
  });

  it('takes a canonical batch of 500 as it is, and leaves 501, none, extra keys and one bad event to the schema', () => {
    const events = Array.from({ length: 500 }, (_, i) => canonical(i));
    const batch = { events };
    expect(fastRelayEventBatch(batch)).toBe(batch);
    expect(RelayEventBatch.safeParse(batch).success).toBe(true);
    const refused = [
      { events: [...events, canonical(500)] },
      { events: [] },
      { events: 'none' },
      { events, colour: 'blue' },
      JSON.parse(`{"events":${JSON.stringify(events.slice(0, 1))},"__proto__":{"role":"admin"}}`),
      { events: [...events.slice(0, 10), { ...canonical(10), stage: 'lunch' }] },
      [batch],
      null,
    ];
    for (const b of refused) {
      expect(fastRelayEventBatch(b)).toBeNull();
      expect(RelayEventBatch.safeParse(b).success).toBe(false);
    }
  });

  it('leaves other MAC spellings to the schema, which normalises them', () => {
    const e = { ...canonical(1), mac: '52-54-00-12-34-56' };
    expect(fastRelayEvent(e)).toBeNull();
    expect(RelayEvent.parse(e).mac).toBe('52:54:00:12:34:56');
  });
});
