import { isAscii } from 'node:buffer';
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rm, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fastRelayEvent, RelayEvent } from '../../../shared/schemas/boot-events.ts';
import type { EventSink, StageEvent } from '../events.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { backoffMs, sleep } from './backoff.ts';
import { CloudUnreachableError, type CloudClient } from './cloud-client.ts';
import { EventIds } from './event-ids.ts';

/*
 * The relay's outbox of boot events: an append-only log on disk, shipped in batches to
 * POST /v1/relay/events, so nothing is lost when the WAN or the relay goes down.
 *
 * Layout in `dir`: segments `000000000001.jsonl`, … (one JSON event per line, each with an id
 * chosen here, `evt_<time><random>`, unique per relay: event-ids.ts), and `ack.json` = {segment,
 * offset}: the first byte not yet acknowledged by the cloud.
 *
 * Delivery is at-least-once from here and exactly-once in the cloud: the ack is written only after
 * the cloud answered 2xx, so a crash between the two re-sends the batch and the cloud ignores the ids
 * it already has. The ack is one fixed-size record (ACK_BYTES, JSON padded with spaces), created once
 * atomically and from then on overwritten in place by one write(2) at offset 0 per batch: a process
 * crash cannot tear a single write into the page cache, and the old temp file + rename per batch cost
 * four file-system calls on the loop that answers DHCP (5 % of its profile under a storm). It is made
 * durable (fsync) with the segments' group commit, at most `fsyncIntervalMs` later: two fsyncs per
 * POST blocked that loop for ~8 ms each. A power loss can therefore bring back an older ack and re-send
 * up to that interval's batches, which the cloud ignores; a record a power loss tore (it does not
 * parse) reads as the start of the oldest segment, which re-sends more but loses nothing. Before a
 * segment is deleted, the ack that moved past it is fsynced, so an ack never names a deleted segment.
 *
 * Durability (fsync policy): emit() never blocks a socket loop. Lines are buffered in memory and
 * written (write(2), into the page cache) at the end of the current event-loop turn; the segment
 * is fsynced at most every `fsyncIntervalMs` (default 1 s, group commit), on segment rotation and
 * on stop(). A process crash therefore loses at most the events of the turn in which it died; a
 * power loss, at most the last second. A torn last line (crash mid-write) is cut off at start.
 * The group commit, the rotation's fsync and the ack's fsync before a segment is deleted run on
 * libuv's thread pool, not on the loop: each fsync took milliseconds here, once a second or more,
 * and a DHCP packet arriving meanwhile waited for it (issue 18). stop() and close() fsync in place.
 *
 * Disk use is bounded: when the segments exceed `maxBytes`, the oldest are deleted and their
 * unshipped events counted in `dropped` (a relay cut off for weeks keeps the newest history).
 * Memory is bounded too: at most `MAX_BUFFERED` lines wait in memory for the end of the turn (more are
 * written at once), and shipping reads one batch (≤ batchMaxBytes) from disk at a time.
 *
 * Coalescing: within a batch, a DHCP stage that a MAC repeats with the same detail and nothing else
 * of that MAC in between (a client retrying DISCOVER, each retry answered) is shipped once, as the
 * first occurrence with `repeats` (how many more) and `lastAt` in its detail: see coalesceRepeats.
 *
 * Pacing (issue 18): a storm of unknown machines is thousands of events a second, and each POST costs
 * the cloud a request's overhead whatever it carries. So a batch that holds everything queued waits
 * until `shipIntervalMs` after the previous POST began (or until a full batch has queued); a batch
 * with more queued behind it (cut by batchMaxEvents, batchMaxBytes or its segment's end) goes at once. Quiet relays see no change (the first event after a pause ships after `lingerMs`); under a storm
 * there are at most 1000/shipIntervalMs partial POSTs a second plus the full ones the rate needs, and an
 * event waits at most shipIntervalMs longer than the backlog ahead of it.
 */

export interface EventQueueOptions {
  dir: string;
  client: CloudClient;
  log: Logger;
  maxBytes?: number;
  segmentBytes?: number;
  fsyncIntervalMs?: number;
  /** The cloud takes at most 500 events per batch. */
  batchMaxEvents?: number;
  /** The cloud caps JSON bodies at 64 KiB; stay under it with room for headers' sake. */
  batchMaxBytes?: number;
  /** How long to let events accumulate after a quiet period before shipping. */
  lingerMs?: number;
  /** The least time between the starts of two POSTs when the second is not a full batch (default 1 s). */
  shipIntervalMs?: number;
}

interface Position {
  segment: number;
  offset: number;
}

interface Batch {
  start: Position;
  end: Position;
  /** `{"events":[…]}` as bytes, or as text when events of it were merged. */
  body: Buffer | string;
  count: number;
  /** Of `count`, how many coalesceRepeats merged into an earlier event of the batch. */
  merged: number;
  /** It is full (batchMaxEvents), or events are queued behind it (bytes or its segment's end cut it): it does not wait for the pace. */
  ready: boolean;
}

const SEGMENT = /^(\d{12})\.jsonl$/;
const name = (n: number) => `${String(n).padStart(12, '0')}.jsonl`;
const WRAP_BYTES = '{"events":[]}'.length;
/** ack.json's size: `{"segment":N,"offset":M}` padded with spaces, ending in a newline. */
const ACK_BYTES = 64;
/** Lines kept in memory for the end of the turn; a turn that emits more writes them at once. */
const MAX_BUFFERED = 4096;

export class EventQueue implements EventSink {
  readonly #o: Required<Omit<EventQueueOptions, 'client' | 'log'>>;
  readonly #client: CloudClient;
  readonly #log: Logger;
  #segments: number[] = [];
  #sizes = new Map<number, number>();
  #fd = -1;
  #ackFd = -1;
  readonly #ackRecord = Buffer.alloc(ACK_BYTES);
  #ack: Position = { segment: 1, offset: 0 };
  #buffer: string[] = [];
  #flushScheduled = false;
  #dirty = false;
  #ackDirty = false;
  #fsyncTimer: NodeJS.Timeout | undefined;
  /** fsyncs (and what waits on them) running on the thread pool; stop() waits for them. */
  readonly #inflight = new Set<Promise<void>>();
  #closed = false;
  #wake: (() => void) | undefined;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #splitLimit = Infinity;
  #lastPostAt = -Infinity;
  readonly #ids = new EventIds();

  depth = 0;
  /** Events merged into an earlier one of the same batch (coalesceRepeats): shipped, but not as rows. */
  coalesced = 0;
  dropped = 0;
  rejected = 0;
  invalid = 0;
  shipped = 0;
  lastShippedAt: number | null = null;

  constructor(opts: EventQueueOptions) {
    this.#o = {
      dir: opts.dir,
      maxBytes: opts.maxBytes ?? 64 * 1024 * 1024,
      segmentBytes: opts.segmentBytes ?? 1024 * 1024,
      fsyncIntervalMs: opts.fsyncIntervalMs ?? 1000,
      batchMaxEvents: opts.batchMaxEvents ?? 500,
      batchMaxBytes: opts.batchMaxBytes ?? 60 * 1024,
      lingerMs: opts.lingerMs ?? 100,
      shipIntervalMs: opts.shipIntervalMs ?? 1000,
    };
    this.#client = opts.client;
    this.#log = opts.log;
    this.#open();
  }

  #open(): void {
    mkdirSync(this.#o.dir, { recursive: true, mode: 0o700 });
    this.#segments = readdirSync(this.#o.dir)
      .map((f) => SEGMENT.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const ackPath = join(this.#o.dir, 'ack.json');
    try {
      const a = JSON.parse(readFileSync(ackPath, 'utf8')) as Position;
      if (Number.isInteger(a.segment) && Number.isInteger(a.offset)) this.#ack = a;
    } catch {
      this.#ack = { segment: this.#segments[0] ?? 1, offset: 0 };
    }
    // Created whole once (a crash leaves no half-made file); overwritten in place from then on.
    if (!existsSync(ackPath)) writeFileAtomic(ackPath, this.#recordOf(this.#ack));
    this.#ackFd = openSync(ackPath, 'r+');
    // An ack written by an older relay (shorter, unpadded) becomes a fixed-size record.
    writeSync(this.#ackFd, this.#recordOf(this.#ack), 0, ACK_BYTES, 0);
    ftruncateSync(this.#ackFd, ACK_BYTES);
    // Segments wholly acknowledged before a crash are garbage now.
    for (const s of this.#segments.filter((s) => s < this.#ack.segment)) rmSync(join(this.#o.dir, name(s)), { force: true });
    this.#segments = this.#segments.filter((s) => s >= this.#ack.segment);
    if (this.#segments.length === 0) this.#segments.push(this.#ack.segment);
    const current = this.#segments.at(-1)!;
    this.#fd = openSync(join(this.#o.dir, name(current)), 'a+', 0o600);
    this.#cutTornLine(current);
    for (const s of this.#segments) this.#sizes.set(s, statSync(join(this.#o.dir, name(s))).size);
    this.depth = this.#countLines(this.#ack);
  }

  /** A crash mid-write leaves a line without its newline: drop it, or the next append would fuse with it. */
  #cutTornLine(segment: number): void {
    const size = fstatSync(this.#fd).size;
    if (size === 0) return;
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    readSync(this.#fd, tail, 0, tail.length, size - tail.length);
    if (tail[tail.length - 1] === 0x0a) return;
    const lastNl = tail.lastIndexOf(0x0a);
    const keep = lastNl < 0 ? size - tail.length : size - tail.length + lastNl + 1;
    ftruncateSync(this.#fd, keep);
    this.#log.warn('cut a torn event line left by a crash', { segment, bytes: size - keep });
  }

  #countLines(from: Position): number {
    let n = 0;
    for (const s of this.#segments) {
      if (s < from.segment) continue;
      const data = readFileSync(join(this.#o.dir, name(s)));
      for (let i = s === from.segment ? from.offset : 0; i < data.length; i++) if (data[i] === 0x0a) n++;
    }
    return n;
  }

  emit(e: StageEvent): void {
    const now = Date.now();
    const event = { id: this.#ids.next(now), ...e, at: e.at ?? this.#isoAt(now) };
    // The servers' events are canonical and pass the cheap check; the schema judges the rest.
    let checked: RelayEvent | null = fastRelayEvent(event);
    if (!checked) {
      const parsed = RelayEvent.safeParse(event);
      if (!parsed.success) {
        // A bad event would make the cloud refuse its whole batch: keep it out of the queue.
        this.invalid++;
        this.#log.once('invalid-event', 'dropped an event the cloud would refuse', { stage: e.stage, issue: parsed.error.issues[0]?.message });
        return;
      }
      checked = parsed.data;
    }
    this.#buffer.push(`${JSON.stringify(checked)}\n`);
    this.depth++;
    if (this.#buffer.length >= MAX_BUFFERED) this.flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  #isoMs = -1;
  #iso = '';
  /** `now` as an ISO instant; a storm's events share the string of their millisecond (a Date and a string each, before). */
  #isoAt(now: number): string {
    if (now !== this.#isoMs) {
      this.#isoMs = now;
      this.#iso = new Date(now).toISOString();
    }
    return this.#iso;
  }

  /** Writes buffered events to the segment (page cache); fsync follows on the timer. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#buffer.length === 0 || this.#fd < 0) return;
    const data = Buffer.from(this.#buffer.join(''));
    this.#buffer = [];
    let off = 0;
    while (off < data.length) off += writeSync(this.#fd, data, off, data.length - off);
    const current = this.#segments.at(-1)!;
    this.#sizes.set(current, (this.#sizes.get(current) ?? 0) + data.length);
    this.#dirty = true;
    this.#fsyncTimer ??= setTimeout(() => this.#commit(), this.#o.fsyncIntervalMs);
    if ((this.#sizes.get(current) ?? 0) >= this.#o.segmentBytes) this.#rotate();
    this.#enforceCap();
    this.#wake?.();
  }

  /** fsync(2) on the thread pool; rejects with its error. */
  #fsyncAsync(fd: number): Promise<void> {
    return new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  #track(p: Promise<void>): void {
    const t: Promise<void> = p
      .catch((err: unknown) => {
        if (!this.#closed) this.#log.once('events-fsync', 'event queue: fsync failed', { err });
      })
      .finally(() => this.#inflight.delete(t));
    this.#inflight.add(t);
  }

  /** The group commit, off the loop. What was dirty and fails stays dirty for the next one. */
  #commit(): void {
    clearTimeout(this.#fsyncTimer);
    this.#fsyncTimer = undefined;
    if (this.#dirty && this.#fd >= 0) {
      this.#dirty = false;
      this.#track(
        this.#fsyncAsync(this.#fd).catch((err: unknown) => {
          this.#dirty = true;
          throw err;
        }),
      );
    }
    if (this.#ackDirty && this.#ackFd >= 0) {
      this.#ackDirty = false;
      this.#track(
        this.#fsyncAsync(this.#ackFd).catch((err: unknown) => {
          this.#ackDirty = true;
          throw err;
        }),
      );
    }
  }

  /** The group commit in place (stop, close). */
  #sync(): void {
    clearTimeout(this.#fsyncTimer);
    this.#fsyncTimer = undefined;
    if (this.#dirty && this.#fd >= 0) fsyncSync(this.#fd);
    this.#dirty = false;
    if (this.#ackDirty) this.#syncAck();
  }

  #syncAck(): void {
    if (this.#ackFd >= 0) fsyncSync(this.#ackFd);
    this.#ackDirty = false;
  }

  #rotate(): void {
    // The old segment is fsynced off the loop and closed once that and any commit using it are done.
    const old = this.#fd;
    const before = [...this.#inflight];
    this.#dirty = false;
    this.#track(
      Promise.allSettled(before)
        .then(() => this.#fsyncAsync(old))
        .finally(() => closeSync(old)),
    );
    const next = this.#segments.at(-1)! + 1;
    this.#segments.push(next);
    this.#sizes.set(next, 0);
    this.#fd = openSync(join(this.#o.dir, name(next)), 'a+', 0o600);
  }

  #enforceCap(): void {
    let total = 0;
    for (const s of this.#segments) total += this.#sizes.get(s) ?? 0;
    while (total > this.#o.maxBytes && this.#segments.length > 1) {
      const oldest = this.#segments.shift()!;
      const lost = this.#countLinesOf(oldest, oldest === this.#ack.segment ? this.#ack.offset : 0);
      rmSync(join(this.#o.dir, name(oldest)), { force: true });
      total -= this.#sizes.get(oldest) ?? 0;
      this.#sizes.delete(oldest);
      this.dropped += lost;
      this.depth -= lost;
      if (this.#ack.segment <= oldest) this.#saveAck({ segment: this.#segments[0]!, offset: 0 }, true);
      this.#log.once('queue-full', 'event queue over its disk cap: dropped the oldest events', { lost, dropped: this.dropped });
    }
  }

  #countLinesOf(segment: number, from: number): number {
    const data = readFileSync(join(this.#o.dir, name(segment)));
    let n = 0;
    for (let i = from; i < data.length; i++) if (data[i] === 0x0a) n++;
    return n;
  }

  /** `p` as ack.json's fixed-size record (a buffer reused from call to call). */
  #recordOf(p: Position): Buffer {
    const r = this.#ackRecord.fill(0x20);
    r.write(JSON.stringify({ segment: p.segment, offset: p.offset }), 0, ACK_BYTES - 1, 'latin1');
    r[ACK_BYTES - 1] = 0x0a;
    return r;
  }

  /** Overwrites ack.json in place; fsynced now when `durable`, else by the next group commit. */
  #saveAck(p: Position, durable = false): void {
    this.#ack = p;
    if (this.#ackFd < 0) return;
    writeSync(this.#ackFd, this.#recordOf(p), 0, ACK_BYTES, 0);
    if (durable) {
      fsyncSync(this.#ackFd);
      this.#ackDirty = false;
      return;
    }
    this.#ackDirty = true;
    this.#fsyncTimer ??= setTimeout(() => this.#commit(), this.#o.fsyncIntervalMs);
  }

  /** The next batch from the acknowledged position, within the cloud's count and size limits. */
  #readBatch(): Batch | null {
    let pos = { ...this.#ack };
    // Move past segments the cloud already has all of (the writer moved on from them).
    while (pos.segment !== this.#segments.at(-1) && pos.offset >= (this.#sizes.get(pos.segment) ?? 0)) {
      const done = pos.segment;
      this.#segments.shift();
      pos = { segment: this.#segments[0]!, offset: 0 };
      this.#saveAck(pos);
      this.#sizes.delete(done);
      // Durable before the delete: after a power loss the ack must not name a segment that is gone.
      // Acks only move forward, so this fsync makes an ack at or past `pos` durable.
      const path = join(this.#o.dir, name(done));
      this.#track(
        this.#fsyncAsync(this.#ackFd).then(
          () =>
            new Promise<void>((resolve) => {
              // After close() the fd may be another file's: the next start deletes what the ack is past.
              if (this.#closed) return resolve();
              rm(path, { force: true }, () => resolve());
            }),
        ),
      );
    }
    const size = this.#sizes.get(pos.segment) ?? 0;
    if (pos.offset >= size) return null;
    const maxEvents = Math.min(this.#o.batchMaxEvents, this.#splitLimit);
    const fd = pos.segment === this.#segments.at(-1) ? this.#fd : openSync(join(this.#o.dir, name(pos.segment)), 'r');
    try {
      const chunk = Buffer.allocUnsafe(Math.min(size - pos.offset, this.#o.batchMaxBytes + 1));
      const got = readSync(fd, chunk, 0, chunk.length, pos.offset);
      // Line ends, within the cloud's count and its body cap in bytes.
      const ends: number[] = [];
      let bytes = WRAP_BYTES;
      let at = 0;
      while (ends.length < maxEvents) {
        const nl = chunk.indexOf(0x0a, at);
        if (nl < 0 || nl >= got) break;
        const extra = nl - at + (ends.length > 0 ? 1 : 0);
        if (ends.length > 0 && bytes + extra > this.#o.batchMaxBytes) break;
        bytes += extra;
        at = nl + 1;
        ends.push(nl);
      }
      if (ends.length === 0) return null;
      // Full, or cut (by bytes, by the segment's end) with more behind it: nothing to wait for.
      const ready = ends.length >= maxEvents || pos.offset + at < size || pos.segment !== this.#segments.at(-1);
      const end = { segment: pos.segment, offset: pos.offset + at };
      const lines = chunk.subarray(0, at);
      // Nothing to merge (a storm's new MACs; one pass over the bytes tells): the body is the lines
      // themselves, joined by commas, made without a string per event. ASCII only, so that the bytes
      // read here are the characters coalesceRepeats would read.
      if (isAscii(lines) && repeatedMacs(ends.length, (i) => lineText(chunk, ends, i, MAC_AT_BYTES, 17), (i) => lineText(chunk, ends, i, STAGE_AT_BYTES, -1)).size === 0) {
        const body = Buffer.allocUnsafe(bytes);
        body.write('{"events":[', 0, 'latin1');
        lines.copy(body, WRAP_BYTES - 2, 0, at - 1);
        for (let i = 0; i < ends.length - 1; i++) body[WRAP_BYTES - 2 + ends[i]!] = 0x2c;
        body.write(']}', bytes - 2, 'latin1');
        return { start: pos, end, body, count: ends.length, merged: 0, ready };
      }
      const text = ends.map((nl, i) => chunk.toString('utf8', i === 0 ? 0 : ends[i - 1]! + 1, nl));
      const { lines: kept, merged } = coalesceRepeats(text);
      return { start: pos, end, body: `{"events":[${kept.join(',')}]}`, count: ends.length, merged, ready };
    } finally {
      if (fd !== this.#fd) closeSync(fd);
    }
  }

  /** Whether a full batch waits on disk: counted from the sizes, no read. */
  #fullBatchReady(): boolean {
    if (this.depth >= Math.min(this.#o.batchMaxEvents, this.#splitLimit)) return true;
    let bytes = -this.#ack.offset;
    for (const s of this.#segments) if (s >= this.#ack.segment) bytes += this.#sizes.get(s) ?? 0;
    return bytes >= this.#o.batchMaxBytes;
  }

  /** Waits `ms`, or less once `ready()` holds after a flush (or when stopped); false when stopped. */
  async #pause(ms: number, ready: () => boolean, signal: AbortSignal): Promise<boolean> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        if (!signal.aborted && !ready()) return;
        clearTimeout(t);
        resolve();
      };
      if (signal.aborted) resolve();
    });
    this.#wake = undefined;
    return !signal.aborted;
  }

  #acknowledge(b: Batch): void {
    // The cap may have dropped this segment while the batch was in flight.
    if (this.#ack.segment !== b.start.segment || this.#ack.offset !== b.start.offset) return;
    this.#saveAck(b.end);
    this.depth -= b.count;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    signal.addEventListener('abort', () => this.#wake?.(), { once: true });
    while (!signal.aborted) {
      this.flush();
      const batch = this.#readBatch();
      if (!batch) {
        if (!(await this.#pause(5_000, () => true, signal))) break;
        if (!(await sleep(this.#o.lingerMs, signal))) break;
        continue;
      }
      // Storm pacing: the last batch of the queue waits for the pace, or until a full one is ready.
      const due = this.#lastPostAt + this.#o.shipIntervalMs - Date.now();
      if (!batch.ready && due > 0) {
        if (!(await this.#pause(due, () => this.#fullBatchReady(), signal))) break;
        continue;
      }
      this.#lastPostAt = Date.now();
      let ok = false;
      try {
        const res = await this.#client.json({ method: 'POST', path: '/v1/relay/events', body: batch.body, headers: { 'content-type': 'application/json' }, retry: true, signal });
        if (res.status >= 200 && res.status < 300) {
          this.#acknowledge(batch);
          this.shipped += batch.count;
          this.coalesced += batch.merged;
          this.lastShippedAt = Date.now();
          this.#splitLimit = Infinity;
          ok = true;
        } else if ((res.status === 400 || res.status === 413 || res.status === 422) && batch.count > 1) {
          // Halve until the refused event is alone, then drop just that one.
          this.#splitLimit = Math.ceil(batch.count / 2);
          ok = true;
        } else if (res.status === 400 || res.status === 422) {
          this.#acknowledge(batch);
          this.rejected++;
          this.#splitLimit = Infinity;
          this.#log.warn('the cloud refused an event; dropped it', { status: res.status, body: JSON.stringify(res.body).slice(0, 300) });
          ok = true;
        } else {
          this.#log.once(`events-${res.status}`, 'the cloud did not take an event batch', { status: res.status });
        }
      } catch (err) {
        if (signal.aborted) break;
        if (!(err instanceof CloudUnreachableError)) this.#log.error('event shipping failed', { err });
        this.#log.once('events-unreachable', 'cannot ship events: cloud unreachable', { depth: this.depth });
      }
      failures = ok ? 0 : failures + 1;
      if (!ok && !(await sleep(500 + backoffMs(failures, 1_000, 30_000), signal))) break;
    }
  }

  /** Stops shipping, writes and fsyncs what is buffered. Events emitted later are still written. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
    this.flush();
    this.#sync();
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  close(): void {
    this.#closed = true;
    this.flush();
    // A commit still on the thread pool may not have run: fsync here whatever it was doing.
    if (this.#inflight.size) this.#dirty = this.#ackDirty = true;
    this.#sync();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    if (this.#ackFd >= 0) closeSync(this.#ackFd);
    this.#ackFd = -1;
  }
}

/** Stages a client repeats while it retries: DHCP, whose server already drops repeats within 2 s. */
/** The DHCP stages a machine repeats when it retries: merged here within a batch, folded over time by event-fold.ts. */
const COALESCED_STAGES: ReadonlySet<string> = new Set(['dhcp-discover', 'dhcp-offer', 'dhcp-request', 'dhcp-ack', 'proxy-offer']);

/** A DHCP stage whose detail leaves room for a count (`repeats`, `lastAt`) and has none yet: it may stand for its repeats. */
export function repeatable(stage: string, detail: Record<string, unknown> | undefined): boolean {
  if (!COALESCED_STAGES.has(stage)) return false;
  let n = 0;
  for (const k in detail) if (++n > 14 || k === 'repeats' || k === 'lastAt') return false;
  return true;
}

/** An event's detail once it stands for `repeats` more like it, the last at `lastAt`. */
export const withRepeats = (detail: Record<string, unknown> | null | undefined, repeats: number, lastAt: string) => ({ ...detail, repeats, lastAt });
const MAC_AT = '"mac":"';
const STAGE_AT = '"stage":"';
const MAC_AT_BYTES = Buffer.from(MAC_AT, 'latin1');
const STAGE_AT_BYTES = Buffer.from(STAGE_AT, 'latin1');

/**
 * What follows the first `marker` of a line: `length` characters, or (-1) up to the next `"` (to the
 * line's last character when there is none); undefined when the line has no marker.
 */
function after(line: string, marker: string, length: number): string | undefined {
  const i = line.indexOf(marker);
  if (i < 0) return undefined;
  const from = i + marker.length;
  return line.slice(from, length >= 0 ? from + length : line.indexOf('"', from));
}

/** The same reading as `after`, over line `i` of a chunk of lines whose newlines stand at `ends` (ASCII). */
function lineText(chunk: Buffer, ends: readonly number[], i: number, marker: Buffer, length: number): string | undefined {
  const start = i === 0 ? 0 : ends[i - 1]! + 1;
  const end = ends[i]!;
  const m = chunk.indexOf(marker, start);
  if (m < 0 || m + marker.length > end) return undefined;
  const from = m + marker.length;
  let to = end - 1;
  if (length >= 0) to = Math.min(from + length, end);
  else {
    const q = chunk.indexOf(0x22, from);
    if (q >= 0 && q < end) to = q;
  }
  return chunk.toString('latin1', from, Math.max(from, to));
}

/**
 * The MACs that repeat a stage within a batch: only they can merge anything (coalesceRepeats). The
 * stage is read as the first `"stage":"` of the line, which may be a detail's key: two lines that could
 * merge have the same stage and detail, so they read the same value either way, and a wrong read only
 * sends a MAC down coalesceRepeats' full path, which decides from the parsed event.
 */
function repeatedMacs(n: number, macOf: (i: number) => string | undefined, stageOf: (i: number) => string | undefined): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (let i = 0; i < n; i++) {
    const m = macOf(i);
    if (!m) continue;
    const stage = stageOf(i);
    const key = stage === undefined ? m : `${m}|${stage}`;
    if (seen.has(key)) repeated.add(m);
    else seen.add(key);
  }
  return repeated;
}

interface Line {
  mac: string;
  stage: string;
  at: string;
  detail?: Record<string, unknown>;
}

/**
 * Merges, within one batch, a DHCP stage a MAC repeats with the same detail while nothing else of that
 * MAC came between: a machine retrying DISCOVER (firmware backs off 4, 8, 16… s) on a relay whose cloud
 * is slow or away. The first occurrence is kept, with `repeats` (how many more there were) and `lastAt`
 * (when the last was) added to its detail, so the timeline shows one `proxy-offer` at its first time
 * and says "4 more until 12:03:10". Anything between — another stage of the MAC (TFTP, a script
 * fetch, the next boot's DHCPREQUEST), another boot decision (a different detail) — ends the run, so
 * no boot's stages are folded into another's. Events of other MACs do not matter.
 *
 * A storm of new MACs has no repeats: one pass of indexOf finds that and returns the lines as they are.
 * A re-sent batch merges the same way (same lines, same first id), so the cloud still ignores it; a
 * re-sent batch that grew after a crash may merge more into an event already stored, and those go
 * uncounted.
 */
export function coalesceRepeats(lines: readonly string[]): { lines: readonly string[]; merged: number } {
  // Only a MAC that repeats a stage within the batch can merge anything (repeatedMacs); the rest of
  // the batch (a storm's new MACs, each with a stage or two) is left unparsed.
  const macs = lines.map((l) => after(l, MAC_AT, 17) ?? '');
  const repeated = repeatedMacs(lines.length, (i) => macs[i]!, (i) => after(lines[i]!, STAGE_AT, -1));
  if (repeated.size === 0) return { lines, merged: 0 };

  const out: (string | { e: Line; line: string; repeats: number; lastAt: string; detailKey: string })[] = [];
  const run = new Map<string, number>();
  let merged = 0;
  lines.forEach((line, i) => {
    const mac = macs[i]!;
    if (!repeated.has(mac)) return void out.push(line);
    let e: Line;
    try {
      e = JSON.parse(line) as Line;
    } catch {
      run.delete(mac);
      return void out.push(line);
    }
    const d = e.detail ?? {};
    const mergeable = repeatable(e.stage, d);
    const detailKey = JSON.stringify(d);
    const head = run.get(mac);
    const h = head === undefined ? undefined : out[head];
    if (mergeable && typeof h === 'object' && h.e.stage === e.stage && h.detailKey === detailKey) {
      h.repeats++;
      h.lastAt = e.at;
      merged++;
      return;
    }
    if (mergeable) {
      run.set(mac, out.length);
      out.push({ e, line, repeats: 0, lastAt: e.at, detailKey });
    } else {
      run.delete(mac);
      out.push(line);
    }
  });
  if (merged === 0) return { lines, merged: 0 };
  return {
    lines: out.map((x) => (typeof x === 'string' ? x : x.repeats === 0 ? x.line : JSON.stringify({ ...x.e, detail: withRepeats(x.e.detail, x.repeats, x.lastAt) }))),
    merged,
  };
}

