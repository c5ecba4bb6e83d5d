import type { EventSink, StageEvent } from '../events.ts';
import { repeatable, withRepeats } from './event-queue.ts';

/** Within this of the same exchange's last occurrence: the firmware retransmitting, not counted. */
export const RETRANSMIT_MS = 2_000;
/** How long a machine's repeated DHCP exchanges fold into one event (relay.toml `[events] repeat_window_seconds`). */
export const REPEAT_WINDOW_MS = 30_000;
/** MACs remembered per generation at most (a storm of new MACs rotates early instead of growing it). */
export const FOLD_MAX_MACS = 32_768;
/** Runs of a dropped generation passed on per event-loop turn (~10 µs each): tens of thousands at once would stall the loop. */
const DRAIN_PER_TURN = 32;

/**
 * One DHCP exchange of a MAC, known by a hash of its stage and detail; when it was last passed on, and
 * what came again since: `count` occurrences, the first at `firstAt`, the last at `lastAt`
 * (milliseconds after its generation's base). Its stage and detail (as one JSON string) are kept only
 * once it repeats, from the repeating event: that is when a summary will need them. `next`: the MAC's
 * other exchanges (a DORA is two: offer and ACK).
 */
interface Slot {
  hash: number;
  stage: StageEvent['stage'] | undefined;
  detail: string | undefined;
  shownAt: number;
  lastAt: number;
  count: number;
  firstAt: number;
  next: Slot | null;
}

/**
 * A MAC seen once, as one number: `shownAt * 2^32 + hash` (shownAt in [0, 2^21) ms after the
 * generation's base). A storm of new MACs — each seen once — then costs a Map entry and a number per
 * MAC, as the DHCP server's old de-duplication did, not objects and strings for 30-60 s each.
 */
const SPLIT = 2 ** 32;
const compact = (t: number, hash: number): number | null => (t >= 0 && t < 2 ** 21 ? t * SPLIT + hash : null);
const newSlot = (hash: number, t: number, next: Slot | null): Slot => ({ hash, stage: undefined, detail: undefined, shownAt: t, lastAt: t, count: 0, firstAt: 0, next });

interface Generation {
  /** Slots' times are milliseconds after this (small integers: no number boxed per slot). */
  base: number;
  macs: Map<string, number | Slot>;
  /** Slots that began counting while their MAC lived here, after their MAC: passed on when the generation is dropped. */
  runs: Array<string | Slot>;
}

export interface FoldCounts {
  /** Events passed on as they came. */
  passed: number;
  /** DHCP events within RETRANSMIT_MS of the same exchange's previous one: the request sent again, not counted. */
  retransmitted: number;
  /** DHCP events counted into a run instead of being passed on one by one. */
  folded: number;
  /** Runs passed on as one event (with `repeats` and `lastAt` when it held more than one). */
  summaries: number;
}

const newGeneration = (base: number): Generation => ({ base, macs: new Map(), runs: [] });

/**
 * Folds a machine's repeated DHCP exchanges into one event (issue 18), in front of the event queue.
 *
 * A machine that asks again and again with nothing else in between — PXE firmware retrying a DISCOVER
 * whose offer got it nowhere (4, 8, 16, 32 s apart), a client whose boot fails before TFTP, a storm of
 * returning clients doing DORA after DORA — is not one event, one journal line and one cloud row per
 * exchange. The first occurrence of an exchange (the MAC's DHCP stage with its detail) is passed on at
 * once. The same exchange again within the window of that is counted; the run is passed on as one
 * event, at its first occurrence, with `repeats` (how many more) and `lastAt` in its detail — the shape
 * the queue's batch coalescing (event-queue.ts coalesceRepeats) gives. A run ends, and is passed on, when
 * the MAC does anything else (a TFTP transfer, a script fetch: the boot moved on, and the next DHCP is
 * the next boot's), when its window is over, when its generation is dropped, or on close(). The same
 * exchange within RETRANSMIT_MS of its previous occurrence is a retransmission and is not counted.
 * Other stages pass through untouched.
 *
 * MACs live in two generations of a Map: a MAC goes into the current one; when a window has passed
 * (or it is full) it becomes the previous one, and the one before is dropped whole, its runs passed on
 * then. A MAC is remembered between one and two windows: a run is passed on at most two windows after
 * it began, memory is bounded by two generations, nothing is scanned per event, and a rotation walks
 * only the runs, a few dozen per event-loop turn (a storm's generation holds tens of thousands). A
 * window below RETRANSMIT_MS is RETRANSMIT_MS: nothing is counted, retransmissions aside
 * (`repeat_window_seconds = 0`).
 */
export class EventFold implements EventSink {
  #current: Generation;
  #previous: Generation;
  #since: number;
  readonly #windowMs: number;
  readonly #max: number;
  readonly #sink: EventSink;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** Dropped generations whose runs are still being passed on, DRAIN_PER_TURN per turn, from `#drained` on. */
  #draining: Generation[] = [];
  #drained = 0;
  #drainScheduled: NodeJS.Immediate | undefined;
  readonly counts: FoldCounts = { passed: 0, retransmitted: 0, folded: 0, summaries: 0 };

  constructor(o: { sink: EventSink; windowMs?: number; maxMacs?: number; now?: () => number }) {
    this.#sink = o.sink;
    this.#windowMs = Math.max(o.windowMs ?? REPEAT_WINDOW_MS, RETRANSMIT_MS);
    this.#max = o.maxMacs ?? FOLD_MAX_MACS;
    this.#now = o.now ?? Date.now;
    this.#since = this.#now();
    this.#current = newGeneration(this.#since);
    this.#previous = newGeneration(this.#since);
    // An idle relay passes its runs on within two windows, without an event to trigger it.
    this.#timer = setInterval(() => this.expire(this.#now()), RETRANSMIT_MS);
    this.#timer.unref();
  }

  emit(e: StageEvent): void {
    const now = this.#now();
    this.expire(now);
    const at = e.at === undefined ? now : Date.parse(e.at);
    let gen = this.#current;
    let head = gen.macs.get(e.mac);
    if (head === undefined) {
      gen = this.#previous;
      head = gen.macs.get(e.mac);
    }
    if (!foldable(e) || Number.isNaN(at)) {
      // The machine moved on (or this event cannot be folded): its runs end here, before this event.
      if (head !== undefined) {
        gen.macs.delete(e.mac);
        if (typeof head !== 'number') for (let s: Slot | null = head; s; s = s.next) this.#summarise(e.mac, s, gen.base);
      }
      return this.#pass(e);
    }
    const hash = exchangeHash(e);
    if (head === undefined) {
      // A MAC not seen in two windows: one number until it shows up again.
      if (this.#current.macs.size >= this.#max) this.#rotate(now);
      const t = at - this.#current.base;
      this.#current.macs.set(e.mac, compact(t, hash) ?? newSlot(hash, t, null));
      return this.#pass(e);
    }
    const t = at - gen.base;
    if (typeof head === 'number') {
      const t0 = Math.floor(head / SPLIT);
      const h0 = head - t0 * SPLIT;
      if (h0 === hash && t - t0 < RETRANSMIT_MS) {
        // The firmware asking again for what it was just answered: still one number.
        this.counts.retransmitted++;
        return;
      }
      if (h0 === hash && t - t0 >= this.#windowMs) {
        // Seen once, a window ago: passed on again, still one number.
        gen.macs.set(e.mac, compact(t, hash) ?? newSlot(hash, t, null));
        return this.#pass(e);
      }
      // Another exchange of the MAC, or this one again: from here on the MAC has slots.
      head = newSlot(h0, t0, null);
      gen.macs.set(e.mac, head);
    }
    let slot: Slot | null = head;
    while (slot && slot.hash !== hash) slot = slot.next;
    if (slot === null) {
      gen.macs.set(e.mac, newSlot(hash, t, head));
      return this.#pass(e);
    }
    if (t - (slot.count ? slot.lastAt : slot.shownAt) < RETRANSMIT_MS) {
      this.counts.retransmitted++;
      return;
    }
    if (t - slot.shownAt >= this.#windowMs) {
      // Its window is over: what it counted goes first, then this occurrence starts the next window.
      this.#summarise(e.mac, slot, gen.base);
      slot.shownAt = slot.lastAt = t;
      return this.#pass(e);
    }
    if (slot.count++ === 0) {
      slot.firstAt = t;
      slot.stage = e.stage;
      slot.detail = JSON.stringify(e.detail ?? null);
      gen.runs.push(e.mac, slot);
    }
    slot.lastAt = t;
    this.counts.folded++;
  }

  /** Drops generations older than the window, passing their runs on (called per event, and by a timer). */
  expire(now: number): void {
    if (now - this.#since < this.#windowMs) return;
    // Two windows idle: nothing in either generation can still match, and both go.
    if (now - this.#since >= 2 * this.#windowMs) this.#rotate(now);
    this.#rotate(now);
  }

  /** Passes every run on now, with what it counted so far, and forgets every MAC. */
  flush(): void {
    this.#draining.push(this.#previous, this.#current);
    const now = this.#now();
    this.#previous = newGeneration(now);
    this.#current = newGeneration(now);
    this.#drain(Infinity);
  }

  /** The relay is stopping: runs are passed on now (the queue outlives this), and the timer stops. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }

  /** MACs remembered (both generations). */
  get size(): number {
    return this.#current.macs.size + this.#previous.macs.size;
  }

  #rotate(now: number): void {
    if (this.#previous.runs.length) this.#draining.push(this.#previous);
    this.#previous = this.#current;
    this.#current = newGeneration(now);
    this.#since = now;
    if (this.#draining.length) this.#drainScheduled ??= setImmediate(() => this.#drain(DRAIN_PER_TURN));
  }

  /** Passes on up to `budget` runs of the dropped generations, and comes back next turn for the rest. */
  #drain(budget: number): void {
    if (this.#drainScheduled) clearImmediate(this.#drainScheduled);
    this.#drainScheduled = undefined;
    while (this.#draining.length) {
      const g = this.#draining[0]!;
      for (; this.#drained < g.runs.length; this.#drained += 2) {
        if (budget-- <= 0) {
          this.#drainScheduled = setImmediate(() => this.#drain(DRAIN_PER_TURN));
          return;
        }
        this.#summarise(g.runs[this.#drained] as string, g.runs[this.#drained + 1] as Slot, g.base);
      }
      this.#draining.shift();
      this.#drained = 0;
    }
  }

  #pass(e: StageEvent): void {
    this.counts.passed++;
    this.#sink.emit(e);
  }

  /** A slot's run as one event at its first occurrence, if it counted any; it then counts afresh. */
  #summarise(mac: string, s: Slot, base: number): void {
    if (s.count === 0) return;
    const e: StageEvent = { mac, stage: s.stage!, at: new Date(base + s.firstAt).toISOString() };
    const detail = JSON.parse(s.detail!) as StageEvent['detail'] | null;
    if (s.count > 1) e.detail = withRepeats(detail, s.count - 1, new Date(base + s.lastAt).toISOString());
    else if (detail !== null) e.detail = detail;
    s.count = 0;
    this.counts.summaries++;
    this.#sink.emit(e);
  }
}

/** A DHCP stage with nothing but a detail, which leaves room for the run's count (event-queue.ts repeatable). */
const foldable = (e: StageEvent): boolean => e.durationMs === undefined && e.bootId === undefined && repeatable(e.stage, e.detail);

/**
 * FNV-1a (32 bits) of the stage and every detail key and value: the same exchange hashes the same. Two
 * different exchanges of one MAC within a window share a hash once in about four billion pairs; they
 * would then be counted as one.
 */
function exchangeHash(e: StageEvent): number {
  let h = mix(0x811c9dc5, e.stage);
  const d = e.detail;
  if (d !== undefined) for (const k in d) h = mix(mix(h, k), String(d[k]));
  return h >>> 0;
}

/** `s` and a separator into the hash. */
function mix(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0x1f, 0x01000193);
}
