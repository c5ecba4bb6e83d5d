import { describe, expect, it } from 'vitest';
import { coalesceRepeats } from '../../relay/src/sync/event-queue.ts';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
let seq = 0;
/** A queue line as the relay writes it. */
const line = (mac: string, stage: string, second: number, detail?: Record<string, unknown>) =>
  JSON.stringify({ id: `evt_test${String(seq++).padStart(8, '0')}`, mac, stage, ...(detail ? { detail } : {}), at: `2026-12-07T04:00:${String(second).padStart(2, '0')}.000Z` });
const offer = { kind: 'pxe', arch: 'x64-uefi', boot: 'ipxe.efi' };
const parse = (ls: readonly string[]) => ls.map((l) => JSON.parse(l) as { mac: string; stage: string; at: string; detail?: Record<string, unknown> });

describe('coalescing repeated DHCP stages in a batch', () => {
  it("merges a MAC's retries into its first offer, with how many more and when the last was", () => {
    const lines = [line(A, 'proxy-offer', 0, offer), line(B, 'proxy-offer', 1, offer), line(A, 'proxy-offer', 4, offer), line(A, 'proxy-offer', 12, offer)];
    const { lines: out, merged } = coalesceRepeats(lines);
    expect(merged).toBe(2);
    expect(parse(out).map((e) => [e.mac, e.stage, e.at, e.detail])).toEqual([
      [A, 'proxy-offer', '2026-12-07T04:00:00.000Z', { ...offer, repeats: 2, lastAt: '2026-12-07T04:00:12.000Z' }],
      [B, 'proxy-offer', '2026-12-07T04:00:01.000Z', offer],
    ]);
    // The kept event keeps its id: a re-sent batch is still a replay to the cloud.
    expect(parse(out)[0]).toMatchObject({ id: (JSON.parse(lines[0]!) as { id: string }).id });
  });

  it('keeps two boots apart: another stage of the MAC between two offers ends the run', () => {
    const lines = [line(A, 'proxy-offer', 0, offer), line(A, 'tftp-start', 1, { file: 'ipxe.efi' }), line(A, 'proxy-offer', 30, offer), line(A, 'proxy-offer', 34, offer)];
    const { lines: out, merged } = coalesceRepeats(lines);
    expect(merged).toBe(1);
    expect(parse(out).map((e) => `${e.stage}@${e.at.slice(17, 19)}${e.detail?.repeats ? `+${e.detail.repeats}` : ''}`)).toEqual(['proxy-offer@00', 'tftp-start@01', 'proxy-offer@30+1']);
  });

  it('keeps offers whose boot decision differs, and stages that are not DHCP', () => {
    const lines = [line(A, 'proxy-offer', 0, offer), line(A, 'proxy-offer', 5, { ...offer, boot: 'undionly.kpxe' }), line(A, 'tftp-error', 6, { file: 'x' }), line(A, 'tftp-error', 7, { file: 'x' })];
    expect(coalesceRepeats(lines)).toEqual({ lines, merged: 0 });
  });

  it('returns a storm of new MACs as it is', () => {
    const lines = Array.from({ length: 300 }, (_, i) => line(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, 'proxy-offer', 0, offer));
    const out = coalesceRepeats(lines);
    expect(out.merged).toBe(0);
    expect(out.lines).toBe(lines);
  });

  it('leaves the lines of a MAC that repeats no stage untouched beside one that retries', () => {
    const lines = [line(A, 'dhcp-discover', 0, { arch: 'x64-uefi' }), line(B, 'proxy-offer', 0, offer), line(A, 'proxy-offer', 0, offer), line(B, 'proxy-offer', 4, offer)];
    const { lines: out, merged } = coalesceRepeats(lines);
    expect(merged).toBe(1);
    expect(out).toHaveLength(3);
    // A's two events are the very lines written, not re-serialised.
    expect(out[0]).toBe(lines[0]);
    expect(out[2]).toBe(lines[2]);
    expect(parse([out[1]!])[0]!.detail).toEqual({ ...offer, repeats: 1, lastAt: '2026-12-07T04:00:04.000Z' });
  });

  it('merges retries whose detail has a key named stage written before the stage itself', () => {
    const odd = (second: number) => JSON.stringify({ id: `evt_test${String(seq++).padStart(8, '0')}`, mac: A, detail: { stage: 'menu', boot: 'ipxe.efi' }, stage: 'proxy-offer', at: `2026-12-07T04:00:${String(second).padStart(2, '0')}.000Z` });
    const { lines: out, merged } = coalesceRepeats([odd(0), odd(4), odd(12)]);
    expect(merged).toBe(2);
    expect(parse(out)[0]!.detail).toEqual({ stage: 'menu', boot: 'ipxe.efi', repeats: 2, lastAt: '2026-12-07T04:00:12.000Z' });
  });
});
