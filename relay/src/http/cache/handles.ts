import { open, type FileHandle } from 'node:fs/promises';

/**
 * One shared read-only fd per object being served, instead of an open() and close() per request: a
 * rack booting at once asks for the same kernel and initrd dozens of times a second. Closed when the
 * last reader lets go; an evicted object's fd stays valid for its readers (POSIX).
 */
export class SharedHandles {
  readonly #fds = new Map<string, { fh: Promise<FileHandle>; refs: number }>();

  acquire(key: string, path: string): Promise<FileHandle> {
    let e = this.#fds.get(key);
    if (!e) {
      const entry = { fh: open(path, 'r'), refs: 0 };
      entry.fh.catch(() => this.#fds.get(key) === entry && this.#fds.delete(key));
      this.#fds.set(key, entry);
      e = entry;
    }
    e.refs++;
    return e.fh;
  }

  release(key: string): void {
    const e = this.#fds.get(key);
    if (!e || --e.refs > 0) return;
    this.#fds.delete(key);
    void e.fh.then((fh) => fh.close()).catch(() => undefined);
  }

  close(): void {
    for (const e of this.#fds.values()) void e.fh.then((fh) => fh.close()).catch(() => undefined);
    this.#fds.clear();
  }
}
