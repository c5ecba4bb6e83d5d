import type { EventSink, StageEvent } from '../events.ts';
import { COALESCED_STAGES } from './event-queue.ts';

/** Within this of the same exchange's last occurrence: the firmware retransmitting, not counted. */
export const RETRANSMIT_MS = 2_000;
/** How long a machine's repeated DHCP exchanges fold into one event (relay.toml `[events] repeat_window_seconds`). */
export const REPEAT_WINDOW_MS = 30_000;
/** MACs remembered per generation at most (a storm of new MACs rotates early instead of growing it). */
export const FOLD_MAX_MACS = 32_768;
/** Runs of a dropped generation passed on per event-loop turn (~10 µs each): tens of thousands at once would stall the loop. */
const DRAIN_PER_TURN = 32;

/**
 * One DHCP exchange of a MAC — its stage and its detail as JSON (one flat string: a storm of returning
 * clients keeps tens of thousands of these, and the event objects they came in were three times the
 * size) — when it was last reported, and what came again since: `count` occurrences, the first at
 * `firstAt`, the last at `lastAt` (milliseconds after its generation's base). `next`: the MAC's other
 * exchanges (a DORA is two: offer and ACK).
 */
interface Slot {
  stage: StageEvent['stage'];
  detail: string | undefined;
  shownAt: number;
  lastAt: number;
  count: number;
  firstAt: number;
  next: Slot | null;
}

interface Generation {
  /** Slots' times are milliseconds after this (small integers: no number boxed per slot). */
  base: number;
  macs: Map<string, Slot>;
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
  /** Dropped generations whose runs are still being passed on, a few hundred per turn, from `#drained` on. */
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
        for (let s: Slot | null = head; s; s = s.next) this.#summarise(e.mac, s, gen.base);
      }
      return this.#pass(e);
    }
    let detail = e.detail === undefined ? undefined : JSON.stringify(e.detail);
    let slot: Slot | null = head ?? null;
    for (; slot; slot = slot.next) {
      if (slot.detail !== detail) continue;
      if (slot.stage === e.stage) break;
      // A DORA's offer and ACK carry the same detail: its slots share one string.
      detail = slot.detail;
    }
    if (slot === null) {
      if (head === undefined) {
        if (this.#current.macs.size >= this.#max) this.#rotate(now);
        gen = this.#current;
      }
      const t = at - gen.base;
      gen.macs.set(e.mac, { stage: e.stage, detail, shownAt: t, lastAt: t, count: 0, firstAt: 0, next: head ?? null });
      return this.#pass(e);
    }
    const t = at - gen.base;
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
    const e: StageEvent = { mac, stage: s.stage, at: new Date(base + s.firstAt).toISOString() };
    const detail = s.detail === undefined ? undefined : (JSON.parse(s.detail) as NonNullable<StageEvent['detail']>);
    if (s.count > 1) e.detail = { ...detail, repeats: s.count - 1, lastAt: new Date(base + s.lastAt).toISOString() };
    else if (detail) e.detail = detail;
    s.count = 0;
    this.counts.summaries++;
    this.#sink.emit(e);
  }
}

/** A DHCP stage with nothing but a detail, which leaves room for the run's two keys and has neither yet. */
function foldable(e: StageEvent): boolean {
  if (!COALESCED_STAGES.has(e.stage) || e.durationMs !== undefined || e.bootId !== undefined) return false;
  const d = e.detail;
  if (d === undefined) return true;
  let n = 0;
  for (const k in d) if (++n > 14 || k === 'repeats' || k === 'lastAt') return false;
  return true;
}
