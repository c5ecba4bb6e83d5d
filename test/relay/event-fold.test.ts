import { afterEach, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../relay/src/events.ts';
import { EventFold, RETRANSMIT_MS } from '../../relay/src/sync/event-fold.ts';

/**
 * A machine's repeated DHCP exchanges are one event and a count (issue 18: a storm of returning
 * clients must not become one journal line and one cloud row per exchange), without losing an
 * exchange from the record and without folding one boot into another.
 */
const W = 30_000;
const T0 = Date.UTC(2026, 11, 8, 4, 0, 0);
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const firmware = (mac: string): StageEvent => ({ mac, stage: 'proxy-offer', detail: { kind: 'pxe', arch: 'efi-x64', boot: 'tftp:ipxe.efi' } });
const ack4011 = (mac: string): StageEvent => ({ mac, stage: 'dhcp-ack', detail: { proxy: true, kind: 'pxe', arch: 'efi-x64', boot: 'tftp:ipxe.efi' } });
const ipxe = (mac: string): StageEvent => ({ mac, stage: 'proxy-offer', detail: { kind: 'ipxe', arch: 'efi-x64', boot: 'http:http://10.0.0.1:8080/boot?mac=x' } });
const offer = (mac: string, ip: string): StageEvent => ({ mac, stage: 'dhcp-offer', detail: { ip, boot: 'tftp:ipxe.efi' } });
const ack = (mac: string, ip: string): StageEvent => ({ mac, stage: 'dhcp-ack', detail: { ip, boot: 'tftp:ipxe.efi' } });

let folds: EventFold[] = [];
afterEach(() => {
  for (const f of folds) f.close();
  folds = [];
});

/** A fold on a clock the test moves (ms after T0), passing events into `out`. */
function fold(windowMs = W, maxMacs = 1000) {
  let t = 0;
  const out: StageEvent[] = [];
  const f = new EventFold({ sink: { emit: (e) => out.push(e) }, windowMs, maxMacs, now: () => T0 + t });
  folds.push(f);
  const at = (ms: number, ...es: StageEvent[]) => {
    t = ms;
    for (const e of es) f.emit(e);
  };
  /** Moves the clock to `ms` and lets the fold pass on what a dropped generation held (a few dozen runs per turn). */
  const tick = async (ms: number) => {
    f.expire(T0 + (t = ms));
    await settled(out);
  };
  return { f, out, at, tick };
}

const turn = () => new Promise<void>((r) => setImmediate(r));
/** Event-loop turns until a turn adds nothing to `out`. */
async function settled(out: unknown[]): Promise<void> {
  for (let n = -1; n !== out.length; ) {
    n = out.length;
    await turn();
  }
}

/** [stage, at, repeats, lastAt] of what was passed on. */
const rows = (out: StageEvent[]) => out.map((e) => [e.stage, e.at ?? null, e.detail?.repeats ?? null, e.detail?.lastAt ?? null]);

describe('EventFold', () => {
  it("passes an exchange on at once, drops retransmissions, counts PXE's retries, and passes the run on at its first retry when its window is over", async () => {
    const { f, out, at, tick } = fold();
    at(0, firmware('a'));
    at(1_000, firmware('a')); // retransmission
    at(4_000, firmware('a')); // PXE's retries: 4, 8, 16 s after
    at(12_000, firmware('a'));
    at(12_500, firmware('a')); // a retransmission of a retry
    at(28_000, firmware('a'));
    expect(out).toEqual([firmware('a')]);
    expect(f.counts).toEqual({ passed: 1, retransmitted: 2, folded: 3, summaries: 0 });
    // 'a' is in the first generation: dropped, and its run passed on, once two windows have begun.
    await tick(30_000);
    expect(out).toHaveLength(1);
    await tick(60_000);
    expect(rows(out)).toEqual([
      ['proxy-offer', null, null, null],
      ['proxy-offer', iso(4_000), 2, iso(28_000)],
    ]);
    expect(out[1]!.detail).toEqual({ ...firmware('a').detail, repeats: 2, lastAt: iso(28_000) });
    expect(f.counts.summaries).toBe(1);
  });

  it('folds a storm of returning clients doing DORA after DORA into two events per exchange per window', () => {
    const { f, out, at } = fold();
    const macs = Array.from({ length: 100 }, (_, i) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
    // Each client comes back every 3 s (a load generator's returning clients): an OFFER and an ACK each time, 20 times.
    for (let round = 0; round < 20; round++) at(round * 3_000, ...macs.flatMap((m, i) => [offer(m, `10.0.0.${i}`), ack(m, `10.0.0.${i}`)]));
    f.flush();
    expect(out.filter((e) => e.detail?.repeats === undefined && e.at === undefined)).toHaveLength(200 * 2); // shown at 0 and when the window ran out at 30 s
    const total = out.reduce((n, e) => n + 1 + ((e.detail?.repeats as number | undefined) ?? 0), 0);
    expect(total).toBe(20 * 200);
    expect(out.length).toBeLessThanOrEqual(4 * 200);
  });

  it('ends a run when the machine moves on: the next boot\'s DHCP is not folded into this one', () => {
    const { out, at } = fold();
    at(0, firmware('a'));
    at(4_000, firmware('a')); // a retry that got nowhere
    at(5_000, ack4011('a'), { mac: 'a', stage: 'tftp-start', detail: { file: 'ipxe.efi' } });
    // The run is passed on before the TFTP event; the reboot 10 s later is an exchange of its own.
    at(15_000, firmware('a'));
    expect(rows(out)).toEqual([
      ['proxy-offer', null, null, null],
      ['dhcp-ack', null, null, null],
      ['proxy-offer', iso(4_000), null, null],
      ['tftp-start', null, null, null],
      ['proxy-offer', null, null, null],
    ]);
  });

  it("keeps another exchange of the same machine and stage apart: iPXE's DHCP after the firmware's", () => {
    const { out, at } = fold();
    at(0, firmware('a'));
    at(100, ipxe('a'));
    at(5_000, firmware('a'), ipxe('a'));
    expect(out.map((e) => e.detail!.kind)).toEqual(['pxe', 'ipxe']);
  });

  it('passes on at once what it cannot fold: other stages, details that already carry a count', () => {
    const { f, out, at } = fold();
    const counted: StageEvent = { mac: 'a', stage: 'proxy-offer', detail: { kind: 'pxe', repeats: 3 } };
    for (const t of [0, 5_000]) at(t, { mac: 'a', stage: 'tftp-error', detail: { file: 'x' } }, counted);
    expect(out).toHaveLength(4);
    expect(f.counts).toEqual({ passed: 4, retransmitted: 0, folded: 0, summaries: 0 });
  });

  it('with a window of 0 counts nothing: every exchange is its own event, retransmissions within 2 s aside', () => {
    const { f, out, at } = fold(0);
    for (const t of [0, 500, 2_000, 3_000, 4_500, 9_000]) at(t, firmware('a'));
    f.flush();
    expect(rows(out).map((r) => r[2])).toEqual([null, null, null, null]);
    expect(f.counts).toEqual({ passed: 4, retransmitted: 2, folded: 0, summaries: 0 });
  });

  it('passes the exchange on again once its window has passed, after what it counted', () => {
    const { out, at } = fold();
    at(0, firmware('a'));
    at(10_000, firmware('a'));
    at(20_000, firmware('a'));
    at(31_000, firmware('a'));
    expect(rows(out)).toEqual([
      ['proxy-offer', null, null, null],
      ['proxy-offer', iso(10_000), 1, iso(20_000)],
      ['proxy-offer', null, null, null],
    ]);
  });

  it('holds at most two generations of MACs under a storm of new ones, and passes a run caught in it on exactly once', async () => {
    const { f, out, at, tick } = fold(W, 100);
    at(0, firmware('a'));
    at(3_000, firmware('a'));
    at(6_000, firmware('a'));
    at(7_000, ...Array.from({ length: 10_000 }, (_, i) => firmware(`m${i}`)));
    expect(f.size).toBeLessThanOrEqual(200);
    await settled(out);
    expect(rows(out.filter((e) => e.mac === 'a'))).toEqual([
      ['proxy-offer', null, null, null],
      ['proxy-offer', iso(3_000), 1, iso(6_000)],
    ]);
    await tick(7_000 + 2 * W);
    expect(f.size).toBe(0);
    expect(out.filter((e) => e.mac === 'a')).toHaveLength(2);
  });

  it("passes a storm generation's runs on a few dozen per event-loop turn, not all in the turn that dropped it", async () => {
    const { out, at, tick } = fold(W, 10_000);
    const macs = Array.from({ length: 3_000 }, (_, i) => `m${i}`);
    at(0, ...macs.map(firmware));
    at(5_000, ...macs.map(firmware));
    await tick(31_000); // the first rotation: the runs are in the previous generation
    out.length = 0;
    at(61_000, firmware('x')); // the second drops them
    expect(out).toHaveLength(1);
    await turn();
    expect(out.length).toBeGreaterThan(1);
    expect(out.length).toBeLessThanOrEqual(1 + 32);
    await tick(61_000);
    expect(out).toHaveLength(1 + 3_000);
    expect(new Set(out.slice(1).map((e) => e.mac))).toEqual(new Set(macs));
  });

  it('close() passes every run on with what it counted so far, and forgets every MAC', () => {
    const { f, out, at } = fold();
    at(0, firmware('a'), firmware('b'));
    at(5_000, firmware('a'), firmware('b'));
    at(9_000, firmware('b'));
    f.close();
    expect(rows(out.slice(2))).toEqual([
      ['proxy-offer', iso(5_000), null, null],
      ['proxy-offer', iso(5_000), 1, iso(9_000)],
    ]);
    expect(f.size).toBe(0);
  });

  it("loses no exchange: over a seeded random storm, what was passed on plus the runs' repeats is every exchange but the retransmissions", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (const [windowMs, maxMacs] of [
      [W, 20],
      [W, 100_000],
      [5_000, 10],
      [0, 100_000],
    ] as const) {
      const { f, out, at } = fold(windowMs, maxMacs);
      const last = new Map<string, number>();
      let counted = 0;
      let t = 0;
      for (let i = 0; i < 20_000; i++) {
        t += Math.floor(rand() * 40);
        const mac = `m${Math.floor(rand() * 60)}`;
        const r = rand();
        const e = r < 0.45 ? firmware(mac) : r < 0.9 ? ipxe(mac) : { mac, stage: 'tftp-start' as const, detail: { file: 'ipxe.efi' } };
        at(t, e);
        if (e.stage === 'tftp-start') {
          counted++;
          continue;
        }
        // A retransmission is within 2 s of the same exchange's last occurrence the fold counted or passed on.
        const key = `${mac}|${e.detail!.kind}`;
        if (!(last.has(key) && t - last.get(key)! < RETRANSMIT_MS)) {
          counted++;
          last.set(key, t);
        }
      }
      f.flush();
      const total = out.reduce((n, e) => n + 1 + ((e.detail?.repeats as number | undefined) ?? 0), 0);
      // Every event is passed on, counted into a run, or dropped as a retransmission; each once.
      expect(f.counts.passed + f.counts.folded + f.counts.retransmitted).toBe(20_000);
      expect(total).toBe(f.counts.passed + f.counts.folded);
      expect(f.counts.summaries).toBe(out.length - f.counts.passed);
      // The retransmissions are the model's, except that a MAC forgotten (its generation dropped, a TFTP
      // transfer between) may come back within 2 s of its last exchange and be passed on as a new one.
      expect(total).toBeGreaterThanOrEqual(counted);
    }
  });
});
