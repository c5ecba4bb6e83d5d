import { describe, expect, it } from 'vitest';
import { groupTimeline, LEAD_MS, type BootRecord, type EventRecord } from '../../cloud/src/boot/timeline.ts';

const T = Date.UTC(2026, 10, 25, 12, 0, 0);
const boot = (id: string, at: number, state: BootRecord['state'] = 'rendered', updated = at, expires: number | null = at + 3_600_000): BootRecord => ({
  id,
  profile_id: null,
  state,
  progress: null,
  log_tail: null,
  callback_expires_at: expires,
  created_at: at,
  updated_at: updated,
});
let n = 0;
const ev = (stage: EventRecord['stage'], at: number, extra: Partial<EventRecord> = {}): EventRecord => ({
  id: `e${n++}`,
  boot_id: null,
  source: 'relay',
  stage,
  at,
  duration_ms: null,
  detail: null,
  ...extra,
});
const shape = (groups: ReturnType<typeof groupTimeline>) => groups.map((g) => [g.bootId, g.stages.map((s) => s.stage)]);

describe('groupTimeline', () => {
  it('gives DHCP/TFTP events to the boot rendered within LEAD_MS after them, and not to one rendered later', () => {
    const g = groupTimeline([boot('b1', T)], [ev('dhcp-offer', T - LEAD_MS - 1), ev('dhcp-offer', T - LEAD_MS), ev('tftp-done', T - 10)], T);
    expect(shape(g)).toEqual([
      ['b1', ['dhcp-offer', 'tftp-done']],
      [null, ['dhcp-offer']],
    ]);
  });

  it('lets an event that names its boot go there whatever its time', () => {
    const g = groupTimeline([boot('b1', T, 'succeeded', T + 10), boot('b2', T + 100_000)], [ev('file-fetched', T + 200_000, { boot_id: 'b1' })], T + 300_000);
    expect(shape(g)).toEqual([
      ['b2', []],
      ['b1', ['file-fetched']],
    ]);
  });

  it('gives later events to an unfinished boot, but nothing after a finished one', () => {
    const g = groupTimeline(
      [boot('open', T), boot('done', T + 1_000_000, 'failed', T + 1_000_500)],
      [ev('file-fetched', T + 500_000), ev('file-fetched', T + 1_000_400), ev('file-fetched', T + 1_000_600)],
      T + 2_000_000,
    );
    expect(shape(g)).toEqual([
      [null, ['file-fetched']],
      ['done', ['file-fetched']],
      ['open', ['file-fetched']],
    ]);
  });

  it('starts a new unaccounted boot at DHCP after later stages, or after a long gap', () => {
    const g = groupTimeline(
      [],
      [ev('dhcp-discover', T), ev('script-fetched', T + 1000), ev('file-fetched', T + 2000), ev('dhcp-discover', T + 3000), ev('dhcp-ack', T + 4000), ev('dhcp-ack', T + 4000 + LEAD_MS + 1)],
      T,
    );
    expect(shape(g)).toEqual([
      [null, ['dhcp-ack']],
      [null, ['dhcp-discover', 'dhcp-ack']],
      [null, ['dhcp-discover', 'script-fetched', 'file-fetched']],
    ]);
  });

  it('takes a reported duration, else the time to the next stage, and null for the last', () => {
    const [g] = groupTimeline([boot('b', T)], [ev('tftp-start', T - 500), ev('tftp-done', T - 300, { duration_ms: 7 }), ev('file-fetched', T + 50)], T);
    expect(g!.stages.map((s) => s.durationMs)).toEqual([200, 7, null]);
  });

  it('calls a boot abandoned once its callback token expired without an outcome', () => {
    expect(groupTimeline([boot('b', T, 'started', T, T + 10)], [], T + 10)[0]!.outcome).toBe('abandoned');
    expect(groupTimeline([boot('b', T, 'started', T, null)], [], T + 10)[0]!.outcome).toBe('in-progress');
  });
});
