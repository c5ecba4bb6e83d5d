import { readFile } from 'node:fs/promises';

/**
 * Memory copies of the objects being served, within `budgetBytes` in all. Why: Node has no sendfile,
 * so serving from disk costs a read and a copy per byte; serving slices of one buffer costs neither,
 * and is what keeps up with nginx when a rack boots at once. A copy not asked for in `idleMs` is
 * dropped, so an idle relay holds none; when the budget is short the least recently used go first
 * (responses still writing keep their buffer alive until they finish).
 */
export class MemoryCopies {
  readonly #copies = new Map<string, { data: Promise<Buffer>; size: number; lastUsed: number }>();
  readonly #budget: number;
  #bytes = 0;
  readonly #sweeper: NodeJS.Timeout;

  constructor(o: { budgetBytes: number; idleMs: number }) {
    this.#budget = o.budgetBytes;
    this.#sweeper = setInterval(() => {
      const now = Date.now();
      for (const [key, c] of this.#copies) if (now - c.lastUsed > o.idleMs) this.drop(key);
    }, Math.max(1000, o.idleMs / 2));
    this.#sweeper.unref();
  }

  /** Bytes held (counted from the moment a load starts, so concurrent loads cannot overshoot). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The copy of `key`, loading it from `path` if the budget allows; null means "serve from disk". */
  get(key: string, path: string, size: number, now: number): Promise<Buffer> | null {
    let c = this.#copies.get(key);
    if (!c) {
      if (size > this.#budget) return null;
      for (const [old, e] of [...this.#copies].sort((a, b) => a[1].lastUsed - b[1].lastUsed)) {
        if (this.#bytes + size <= this.#budget) break;
        this.drop(old);
      }
      if (this.#bytes + size > this.#budget) return null;
      const entry = { data: readFile(path), size, lastUsed: now };
      entry.data.catch(() => this.#copies.get(key) === entry && this.drop(key));
      this.#copies.set(key, entry);
      this.#bytes += size;
      c = entry;
    }
    c.lastUsed = now;
    return c.data;
  }

  drop(key: string): void {
    const c = this.#copies.get(key);
    if (!c) return;
    this.#copies.delete(key);
    this.#bytes -= c.size;
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#copies.clear();
    this.#bytes = 0;
  }
}
