import { readFileSync } from 'node:fs';
import { SHA256_HEX } from '../../../../shared/crypto/sha256.ts';
import type { Logger } from '../../log.ts';
import { writeFileAtomic } from '../../sync/atomic-file.ts';
import { writeFileDurable } from './durable-file.ts';

/**
 * `sources.json`: for each image id, where the cloud serves it (a signed path, `/v1/files/<id>?sig=…`)
 * and, once a fill has verified it, which object it is (sha256, size).
 *
 * Why write-behind. The signed path changes with every signature, i.e. with nearly every script the
 * relay serves, and the relay answers DHCP on the same event loop. Rewriting and fsyncing the file per
 * script (as this cache once did) put two synchronous fsyncs in front of every DHCP answer behind a
 * script. So the index lives in memory and reaches the disk through a coalesced flush: the first change
 * after a flush arms one timer (`delayMs`); when it fires, ONE asynchronous atomic write (temp file,
 * fsync, rename, directory fsync, all on the thread pool) saves everything changed so far. At most one
 * write is in flight; changes made meanwhile wait for it, then for the next one. A change is therefore
 * on disk within `delayMs` plus the duration of one write, however many scripts were served.
 *
 * What a crash can lose, and why that is safe:
 * - Signed paths learned since the last completed flush (at most the last ~second). The path is only
 *   where to *fetch* an image that is not cached yet; the cloud hands a fresh one in the next script
 *   that names the image, and a relay that restarts with an older (maybe expired) path refetches
 *   nothing it already holds — cached objects are found by sha256, not by path.
 * - Nothing of the objects: an object enters `objects/` only after its bytes are fsynced and verified
 *   (fill.ts), and it is listed from that directory at start-up, not from this file. The imageId →
 *   sha256 link of a fill completed just before the crash is kept by the fill's journal
 *   (`partial/<id>.json`, removed only after a flush that holds the link) and re-read at start-up.
 * - Never a torn file: the rename is atomic, so a crash leaves the previous index or the new one.
 */

export interface Source {
  path: string | null;
  sha256: string | null;
  size: number | null;
}

/** Where the index is kept: the cache's consumer-owned port (a file in production, a double in tests). */
export interface IndexStore {
  /** The saved text, or null when there is none (first run, unreadable). Called once, at start-up. */
  load(): string | null;
  /** Replaces the saved text atomically and durably; never called again before it settles. */
  save(text: string): Promise<void>;
  /** The same, synchronously: only at shutdown, when no save is in flight. */
  saveNow(text: string): void;
}

/** Arms a one-shot timer; returns its cancel function. Injected so tests decide when a flush runs. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const timer: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export function fileIndexStore(path: string): IndexStore {
  return {
    load() {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return null;
      }
    },
    save: (text) => writeFileDurable(path, text),
    saveNow: (text) => writeFileAtomic(path, text),
  };
}

export interface SourceIndexOptions {
  store: IndexStore;
  log: Logger;
  /** How long the first unsaved change waits for others to join its flush (default 1 s). */
  delayMs?: number;
  schedule?: Schedule;
}

export class SourceIndex {
  readonly #map = new Map<string, Source>();
  readonly #o: SourceIndexOptions;
  readonly #schedule: Schedule;
  /** Bumped by every change; `#savedVersion` is the newest version a completed write holds. */
  #version = 0;
  #savedVersion = 0;
  #cancelTimer: (() => void) | null = null;
  #inFlight: Promise<void> | null = null;
  /** The timer fired while a write was in flight: write again as soon as it settles. */
  #again = false;
  #closed = false;
  #waiters: Array<{ version: number; resolve: () => void }> = [];
  /** Completed writes of the index (the measure of how often the disk is touched). */
  writes = 0;

  constructor(o: SourceIndexOptions) {
    this.#o = o;
    this.#schedule = o.schedule ?? timer;
    const text = o.store.load();
    if (text === null) return;
    try {
      for (const [id, s] of Object.entries(JSON.parse(text) as Record<string, Partial<Source>>)) {
        const source = parseSource(s);
        if (source) this.#map.set(id, source);
      }
    } catch {
      // unreadable: sources come back with the next scripts, objects are listed from objects/
    }
  }

  get(imageId: string): Source | undefined {
    return this.#map.get(imageId);
  }

  /** Remembers a fresh signed path; a repeat of the known one changes nothing and writes nothing. */
  setPath(imageId: string, path: string): void {
    const s = this.#map.get(imageId);
    if (s?.path === path) return;
    this.#map.set(imageId, { path, sha256: s?.sha256 ?? null, size: s?.size ?? null });
    this.#changed(this.#o.delayMs ?? 1000);
  }

  /**
   * Links an image to its verified object. Rare (once per fill) and worth keeping promptly, so its
   * flush is not delayed; it is still asynchronous and still shares the one write in flight.
   */
  setObject(imageId: string, sha256: string, size: number, path?: string): void {
    const s = this.#map.get(imageId);
    if (s?.sha256 === sha256 && s.size === size) return;
    this.#map.set(imageId, { path: s?.path ?? path ?? null, sha256, size });
    this.#changed(0);
  }

  /** Resolves once every change made so far is on disk. */
  saved(): Promise<void> {
    if (this.#savedVersion >= this.#version) return Promise.resolve();
    const version = this.#version;
    return new Promise((resolve) => this.#waiters.push({ version, resolve }));
  }

  /**
   * Stops the timer and writes what is not saved yet: at once and synchronously when no write is in
   * flight (shutdown is not a hot path, and a caller that does not await still gets the file),
   * otherwise right after that write settles, so the older snapshot cannot land last.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (this.#inFlight) return this.#inFlight.then(() => this.#writeNow());
    this.#writeNow();
    return Promise.resolve();
  }

  #changed(delayMs: number): void {
    this.#version++;
    if (this.#closed) return this.#inFlight ? undefined : this.#writeNow();
    this.#arm(delayMs);
  }

  #arm(delayMs: number): void {
    if (this.#cancelTimer && delayMs > 0) return; // a flush is already due no later than this change needs
    this.#cancelTimer?.();
    this.#cancelTimer = this.#schedule(() => {
      this.#cancelTimer = null;
      if (this.#inFlight) this.#again = true;
      else this.#flush();
    }, delayMs);
  }

  #flush(): void {
    if (this.#savedVersion >= this.#version) return;
    const version = this.#version;
    this.#inFlight = this.#o.store.save(this.#text()).then(
      () => {
        this.writes++;
        this.#savedVersion = version;
        this.#waiters = this.#waiters.filter((w) => (w.version <= version ? void w.resolve() : true));
      },
      (err: unknown) => {
        // Disk full, read-only: keep serving from memory and try again later; say so once.
        this.#o.log.once('index-write', 'could not save the image cache index', { err: (err as Error).message });
      },
    );
    void this.#inFlight.then(() => {
      this.#inFlight = null;
      if (this.#closed) return;
      if (this.#again) {
        this.#again = false;
        this.#flush();
      } else if (this.#savedVersion < this.#version) {
        this.#arm(this.#o.delayMs ?? 1000); // changed during the write, or the write failed: retry later
      }
    });
  }

  #writeNow(): void {
    if (this.#savedVersion >= this.#version) return;
    const version = this.#version;
    try {
      this.#o.store.saveNow(this.#text());
      this.writes++;
      this.#savedVersion = version;
      for (const w of this.#waiters.splice(0)) w.resolve();
    } catch (err) {
      this.#o.log.once('index-write', 'could not save the image cache index', { err: (err as Error).message });
    }
  }

  #text(): string {
    return JSON.stringify(Object.fromEntries(this.#map));
  }
}

function parseSource(s: Partial<Source> | null): Source | null {
  if (typeof s !== 'object' || s === null) return null;
  const path = typeof s.path === 'string' ? s.path : null;
  const sha256 = typeof s.sha256 === 'string' && SHA256_HEX.test(s.sha256) ? s.sha256 : null;
  const size = Number.isSafeInteger(s.size) ? (s.size as number) : null;
  return path || sha256 ? { path, sha256: sha256 && size !== null ? sha256 : null, size: sha256 ? size : null } : null;
}
