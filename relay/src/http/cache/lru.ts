/**
 * The size bound over complete objects: which objects exist, how big, when last used, and which to
 * drop when a new one pushes the total past `maxBytes`. Pure bookkeeping, no disk: the caller unlinks
 * what `evict` returns (an open reader keeps its fd and finishes, POSIX). `lastUsed` starts from the
 * file's mtime, so the order survives restarts.
 */
export interface ObjectEntry {
  size: number;
  lastUsed: number;
}

export class ObjectLru {
  readonly #objects = new Map<string, ObjectEntry>();
  #totalBytes = 0;
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get count(): number {
    return this.#objects.size;
  }

  get(sha256: string): ObjectEntry | undefined {
    return this.#objects.get(sha256);
  }

  add(sha256: string, size: number, lastUsed: number): void {
    this.#totalBytes += size - (this.#objects.get(sha256)?.size ?? 0);
    this.#objects.set(sha256, { size, lastUsed });
  }

  /**
   * Forgets the least recently used objects until the total fits, never `keep` (the object just
   * added: evicting it would refetch it at once). Returns what was dropped, oldest first.
   */
  evict(keep: string): string[] {
    if (this.#totalBytes <= this.maxBytes) return [];
    const order = [...this.#objects].filter(([sha]) => sha !== keep).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    const dropped: string[] = [];
    for (const [sha, e] of order) {
      if (this.#totalBytes <= this.maxBytes) break;
      this.#objects.delete(sha);
      this.#totalBytes -= e.size;
      dropped.push(sha);
    }
    return dropped;
  }
}
