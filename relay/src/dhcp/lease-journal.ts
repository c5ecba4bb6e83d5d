import { closeSync, fsync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import { syncDir } from '../http/cache/durable-file.ts';
import type { LeaseChange } from './leases.ts';

/**
 * Full-mode leases on disk as an append-only journal (`leases.jsonl`, one JSON change per line),
 * the way ISC Kea's memfile does it, rather than dnsmasq's rewrite of the whole lease file on every
 * change (whose cost grows with the lease count: ~200 DORA/s).
 *
 * - `append` writes the line with write(2) before returning, so the ACK the caller sends next never
 *   announces a lease a process crash could forget. fsync is grouped: at most one per
 *   `fsyncIntervalMs` (default 1 s), so a power loss forgets at most the last second of leases —
 *   the clients then keep their addresses and the server re-learns them when they renew (RFC 2131
 *   §4.3.2 INIT-REBOOT and renewals name the address).
 * - The journal is compacted (rewritten from the table) when it holds more than twice as many lines as
 *   the table has entries, plus a margin: amortised O(1) per change. The rewrite is serialized a
 *   slice per turn, written and fsynced off the event loop, so answering never waits for it (at 10k
 *   leases a synchronous rewrite blocked the loop 50–80 ms, and an fsync on a busy disk can take
 *   seconds).
 * - At start a torn last line (a crash mid-write) and any unreadable line are skipped and counted.
 */
export interface LeaseJournalOptions {
  path: string;
  log: Logger;
  fsyncIntervalMs?: number;
  /** Lines beyond twice the live entries before compacting. */
  compactMargin?: number;
}

const LINE_KEYS = ['ip', 'mac', 'state', 'expiresAt'] as const;
/** Entries serialized per turn of the loop while compacting (about half a millisecond's work). */
const COMPACT_SLICE = 512;

export class LeaseJournal {
  readonly #o: Required<LeaseJournalOptions>;
  #fd: number;
  #lines = 0;
  #dirty = false;
  #timer: NodeJS.Timeout | null = null;
  #syncing = false;
  /** While a compaction runs: the lines appended since its snapshot. */
  #during: string[] | null = null;
  #retired: number[] = [];
  #closed = false;
  /** Lines skipped at load (torn or unreadable). */
  skipped = 0;

  constructor(o: LeaseJournalOptions) {
    this.#o = { fsyncIntervalMs: 1_000, compactMargin: 1_024, ...o };
    this.#fd = openSync(o.path, 'a', 0o600);
  }

  /** Every well-formed change in the journal, oldest first. */
  load(): LeaseChange[] {
    const out: LeaseChange[] = [];
    const text = readFileSync(this.#o.path, 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      this.#lines++;
      const c = parseLine(line);
      if (c) out.push(c);
      else this.skipped++;
    }
    if (this.skipped) this.#o.log.warn('skipped unreadable lease journal lines', { path: this.#o.path, skipped: this.skipped });
    return out;
  }

  append(c: LeaseChange): void {
    const text = line(c);
    writeSync(this.#fd, text);
    this.#during?.push(text);
    this.#lines++;
    this.#dirty = true;
    this.#timer ??= setTimeout(() => this.#sync(), this.#o.fsyncIntervalMs);
  }

  /** Whether the journal has grown enough past `live` entries to be worth rewriting (and no rewrite is under way). */
  wantsCompaction(live: number): boolean {
    return this.#during === null && !this.#closed && this.#lines > 2 * live + this.#o.compactMargin;
  }

  /**
   * Rewrites the journal from the table's entries. Nothing of it blocks the loop for long: the
   * entries are serialized `COMPACT_SLICE` at a time, each slice written (on the thread pool) before
   * the next is read, then the new file is fsynced off the loop; at 30,000 leases serializing them
   * in one go held the loop 30 ms, 150 exchanges at 5,000/s (issue 18).
   *
   * `entries` is read lazily, so a slice shows the table as it is when that slice is taken, not as it
   * was when the compaction began. That is still exact: every line appended from the start of the
   * compaction on goes to the old file and to `#during`, which is appended to the new file after the
   * body in the same synchronous step as the rename. Replay keeps an address's last line, so an
   * address that changed meanwhile ends at its newest line (from `#during`) whichever state its body
   * line caught, and one that did not change is in the body as it is now. A crash before the rename
   * leaves the old journal, complete.
   */
  async compact(entries: Iterable<LeaseChange>): Promise<void> {
    this.#during = [];
    const tmp = `${this.#o.path}.compact-${process.pid}`;
    try {
      let count = 0;
      const fh = await open(tmp, 'w', 0o600);
      try {
        const it = entries[Symbol.iterator]();
        for (let done = false; !done; ) {
          let slice = '';
          let n = 0;
          for (let r = it.next(); ; r = it.next()) {
            if (r.done) {
              done = true;
              break;
            }
            slice += line(r.value);
            if (++n === COMPACT_SLICE) break;
          }
          count += n;
          if (slice) await fh.writeFile(slice);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (this.#closed) return unlinkSync(tmp);
      renameSync(tmp, this.#o.path);
      const fd = openSync(this.#o.path, 'a', 0o600);
      if (this.#during.length) {
        writeSync(fd, this.#during.join(''));
        this.#dirty = true;
        this.#timer ??= setTimeout(() => this.#sync(), this.#o.fsyncIntervalMs);
      }
      this.#retire(this.#fd);
      this.#fd = fd;
      this.#lines = count + this.#during.length;
      // The rename's own durability, off the loop too (a crash before it lands leaves the old journal).
      syncDir(dirname(this.#o.path)).catch((err: unknown) => this.#o.log.once('lease-compact-dir', 'lease journal: fsync of its directory failed', { err }));
    } catch (err) {
      this.#o.log.once('lease-compact', 'lease journal compaction failed; the journal keeps growing until the next try', { err });
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    } finally {
      this.#during = null;
    }
  }

  /** The descriptor a compaction replaced: closed once no fsync of it is in flight (its number could be reused). */
  #retire(fd: number): void {
    if (this.#syncing) this.#retired.push(fd);
    else closeSync(fd);
  }

  #sync(): void {
    this.#timer = null;
    if (!this.#dirty || this.#syncing) return;
    this.#dirty = false;
    this.#syncing = true;
    fsync(this.#fd, (err) => {
      this.#syncing = false;
      for (const fd of this.#retired.splice(0)) closeSync(fd);
      if (err) this.#o.log.once('lease-fsync', 'lease journal fsync failed', { err });
      if (this.#dirty) this.#timer ??= setTimeout(() => this.#sync(), this.#o.fsyncIntervalMs);
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // Synchronous on close: the process is about to stop, and the last leases must be on disk.
    try {
      if (this.#dirty) fsyncSync(this.#fd);
    } finally {
      closeSync(this.#fd);
    }
  }
}

function line(c: LeaseChange): string {
  return `${JSON.stringify({ ip: c.ip, mac: c.mac, state: c.state, expiresAt: c.expiresAt })}\n`;
}

function parseLine(line: string): LeaseChange | null {
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (!v || typeof v !== 'object' || Object.keys(v).length !== LINE_KEYS.length) return null;
    const { ip, mac, state, expiresAt } = v;
    if (typeof ip !== 'string' || typeof mac !== 'string' || typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) return null;
    if (state !== 'bound' && state !== 'free' && state !== 'declined') return null;
    return { ip, mac, state, expiresAt };
  } catch {
    return null;
  }
}
