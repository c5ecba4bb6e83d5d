import { closeSync, fsync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../sync/atomic-file.ts';
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
 * - The journal is compacted (rewritten atomically from the table) when it holds more than twice
 *   as many lines as the table has entries, plus a margin: amortised O(1) per change.
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

export class LeaseJournal {
  readonly #o: Required<LeaseJournalOptions>;
  #fd: number;
  #lines = 0;
  #dirty = false;
  #timer: NodeJS.Timeout | null = null;
  #syncing = false;
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
    const line = Buffer.from(`${JSON.stringify({ ip: c.ip, mac: c.mac, state: c.state, expiresAt: c.expiresAt })}\n`);
    writeSync(this.#fd, line);
    this.#lines++;
    this.#dirty = true;
    this.#timer ??= setTimeout(() => this.#sync(), this.#o.fsyncIntervalMs);
  }

  /** Whether the journal has grown enough past `live` entries to be worth rewriting. */
  wantsCompaction(live: number): boolean {
    return this.#lines > 2 * live + this.#o.compactMargin;
  }

  /** Rewrites the journal from the table's entries (temp file, fsync, rename) and appends after them. */
  compact(entries: Iterable<LeaseChange>): void {
    const lines: string[] = [];
    for (const c of entries) lines.push(JSON.stringify({ ip: c.ip, mac: c.mac, state: c.state, expiresAt: c.expiresAt }));
    writeFileAtomic(this.#o.path, lines.length ? `${lines.join('\n')}\n` : '');
    closeSync(this.#fd);
    this.#fd = openSync(this.#o.path, 'a', 0o600);
    this.#lines = lines.length;
    this.#dirty = false;
  }

  #sync(): void {
    this.#timer = null;
    if (!this.#dirty || this.#syncing) return;
    this.#dirty = false;
    this.#syncing = true;
    fsync(this.#fd, (err) => {
      this.#syncing = false;
      if (err) this.#o.log.once('lease-fsync', 'lease journal fsync failed', { err });
      if (this.#dirty) this.#timer ??= setTimeout(() => this.#sync(), this.#o.fsyncIntervalMs);
    });
  }

  close(): void {
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
