import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, unlink, utimes, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SHA256_HEX } from '../../../shared/crypto/sha256.ts';
import type { Logger } from '../log.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { bufferSource, copyRange, fileSource, type ByteSource } from './cache/copy.ts';
import { Fills, replayJournals, type Fill, type FillError } from './cache/fill.ts';
import { SharedHandles } from './cache/handles.ts';
import { ObjectLru } from './cache/lru.ts';
import { MemoryCopies } from './cache/memory.ts';
import { startResponse } from './cache/ranges.ts';
import { fileIndexStore, SourceIndex, type IndexStore, type Schedule } from './cache/source-index.ts';
import type { Counter, MetricsRegistry } from './metrics.ts';

/*
 * The image cache: a read-through cache on local disk in front of the cloud's signed /v1/files.
 *
 *   <dir>/objects/<sha256>        complete objects, verified, named by content (the cloud's ETag)
 *   <dir>/partial/<imageId>.part  a fill in progress or cut off, `.json` beside it (cache/fill.ts)
 *   <dir>/sources.json            imageId → {path: upstream '/v1/files/<id>?sig=…', sha256, size}
 *
 * This file only composes the parts, one job each, under cache/:
 *   source-index.ts  sources.json, in memory and saved write-behind (what a crash can lose is there)
 *   lru.ts           the size bound: least recently used objects go first; mtime is the clock on disk
 *   fill.ts          single-flight, resumable, verified fetches from the cloud
 *   memory.ts        memory copies of the objects being served, within a budget
 *   handles.ts       one shared fd per object being served
 *   ranges.ts        status and headers: Range, If-Range, 416
 *   copy.ts          the one loop that copies bytes to a response, from memory, disk or a growing fill
 *
 * - Verified before it is served: bytes stream while the fill runs, but the LAST byte of every
 *   response (whole or range) is held back until the whole object's sha256 matches the ETag. On a
 *   mismatch the connections are reset, so no client completes a corrupt download, and nothing is cached.
 * - Images are immutable once ready in the cloud (an image id always names the same bytes), which is
 *   why imageId → sha256 can be remembered and served during a WAN cut.
 * - Nothing on the serving path does synchronous I/O: the relay answers DHCP on the same event loop.
 *   Start-up (listing objects/, reading sources.json) and shutdown (the index's last write) may.
 */

export interface ImageCacheOptions {
  dir: string;
  client: CloudClient;
  log: Logger;
  metrics: MetricsRegistry;
  maxBytes: number;
  /** Read size for serving; large reads keep syscalls per byte low. */
  chunkBytes?: number;
  /**
   * Objects being served are also held in memory up to this many bytes in all (0: never), and
   * dropped after `hotIdleMs` without a request, so an idle relay holds none. Node has no
   * sendfile: serving from memory saves a read and a copy per byte, which is what keeps up with
   * nginx when a rack boots at once.
   */
  memoryBytes?: number;
  hotIdleMs?: number;
  /** Where sources.json is kept (default: the file in `dir`; tests pass a double to count writes). */
  indexStore?: IndexStore;
  /** How long a changed signed path may wait to be saved with others (default 1 s). */
  indexDelayMs?: number;
  indexSchedule?: Schedule;
}

export type ServeOutcome = 'hit' | 'miss' | 'coalesced' | 'not-found' | 'error';

/** mtime is the LRU clock on disk; touching it once a minute is plenty. */
const TOUCH_EVERY_MS = 60_000;

export class ImageCache {
  readonly #o: ImageCacheOptions;
  readonly #chunkBytes: number;
  readonly #index: SourceIndex;
  readonly #lru: ObjectLru;
  readonly #fills: Fills;
  readonly #memory: MemoryCopies;
  readonly #handles = new SharedHandles();
  readonly hits: Counter;
  readonly misses: Counter;
  readonly bytesServed: Counter;
  readonly bytesFetched: Counter;
  readonly verifyFailures: Counter;
  readonly evictions: Counter;

  constructor(o: ImageCacheOptions) {
    this.#o = o;
    this.#chunkBytes = o.chunkBytes ?? 1024 * 1024;
    for (const d of ['objects', 'partial']) mkdirSync(join(o.dir, d), { recursive: true, mode: 0o700 });
    const m = o.metrics;
    this.hits = m.counter('edgeboot_relay_cache_hits_total', 'image requests served from a complete cached object');
    this.misses = m.counter('edgeboot_relay_cache_misses_total', 'image requests that started or joined an upstream fill');
    this.bytesServed = m.counter('edgeboot_relay_cache_served_bytes_total', 'image bytes sent to LAN clients');
    this.bytesFetched = m.counter('edgeboot_relay_cache_fetched_bytes_total', 'image bytes fetched from the cloud');
    this.verifyFailures = m.counter('edgeboot_relay_cache_verify_failures_total', 'fills refused because the sha256 did not match');
    this.evictions = m.counter('edgeboot_relay_cache_evictions_total', 'objects evicted by the size bound');
    m.gauge('edgeboot_relay_cache_bytes', 'bytes of complete objects on disk', () => this.#lru.totalBytes);
    m.gauge('edgeboot_relay_cache_objects', 'complete objects on disk', () => this.#lru.count);
    m.gauge('edgeboot_relay_cache_memory_bytes', 'bytes of hot objects held in memory', () => this.#memory.bytes);

    this.#index = new SourceIndex({ store: o.indexStore ?? fileIndexStore(join(o.dir, 'sources.json')), log: o.log, delayMs: o.indexDelayMs, schedule: o.indexSchedule });
    this.#lru = new ObjectLru(o.maxBytes);
    for (const f of readdirSync(join(o.dir, 'objects'))) {
      if (!SHA256_HEX.test(f)) continue;
      const st = statSync(join(o.dir, 'objects', f));
      this.#lru.add(f, st.size, st.mtimeMs);
    }
    const partialDir = join(o.dir, 'partial');
    const journals = replayJournals(partialDir, (sha) => this.#lru.get(sha) !== undefined, (id, sha, size) => this.#index.setObject(id, sha, size));
    if (journals.length) void this.#index.saved().then(() => Promise.all(journals.map((j) => unlink(j).catch(() => undefined))));
    this.#memory = new MemoryCopies({ budgetBytes: o.memoryBytes ?? 0, idleMs: o.hotIdleMs ?? 30_000 });
    this.#fills = new Fills({
      client: o.client,
      log: o.log,
      partialDir,
      objectPath: (sha) => this.#objectPath(sha),
      hasObject: (sha) => this.#lru.get(sha) !== undefined,
      onVerified: (imageId, sha, size, path, fresh) => {
        if (fresh) {
          this.#lru.add(sha, size, Date.now());
          this.#evict(sha);
        }
        this.#index.setObject(imageId, sha, size, path);
        return this.#index.saved();
      },
      bytesFetched: this.bytesFetched,
      verifyFailures: this.verifyFailures,
    });
  }

  get totalBytes(): number {
    return this.#lru.totalBytes;
  }

  /** Requests sent to the cloud for image bytes. */
  get upstreamFetches(): number {
    return this.#fills.upstreamFetches;
  }

  /** Completed writes of sources.json (write-behind: far fewer than the signed paths learned). */
  get indexWrites(): number {
    return this.#index.writes;
  }

  /** Resolves once every source learned so far is saved in sources.json. */
  indexSaved(): Promise<void> {
    return this.#index.saved();
  }

  has(sha256: string): boolean {
    return this.#lru.get(sha256) !== undefined;
  }

  /**
   * Remembers where the cloud serves an image (a fresh signed path from the latest script). Called for
   * every image URL of every script served: memory only, saved later (cache/source-index.ts).
   */
  setSource(imageId: string, path: string): void {
    this.#index.setPath(imageId, path);
  }

  /**
   * The complete, verified object of an image on local disk, or null (not cached, or still filling).
   * For servers that read files synchronously (TFTP serves shim and GRUB from here); marks it used.
   */
  localObject(imageId: string): { path: string; size: number } | null {
    const sha = this.#index.get(imageId)?.sha256;
    const o = sha ? this.#lru.get(sha) : undefined;
    if (!sha || !o) return null;
    o.lastUsed = Date.now();
    return { path: this.#objectPath(sha), size: o.size };
  }

  /**
   * Fetches an image into the cache ahead of any request (shim and GRUB must be on disk before a
   * machine's firmware asks for them over TFTP). Resolves when it is verified on disk; a fill already
   * running is joined, never doubled.
   */
  async prefetch(imageId: string, path: string): Promise<void> {
    if (this.localObject(imageId)) return;
    this.setSource(imageId, path);
    await this.#fills.start(imageId, path).done();
  }

  /** Answers GET/HEAD for an image (the caller checked the client's grant). */
  async serve(req: IncomingMessage, res: ServerResponse, imageId: string): Promise<ServeOutcome> {
    const src = this.#index.get(imageId);
    if (src?.sha256 && this.has(src.sha256)) {
      this.hits.inc();
      await this.#serveObject(req, res, src.sha256);
      return 'hit';
    }
    let fill = this.#fills.running(imageId);
    const coalesced = fill !== undefined;
    if (!fill) {
      if (!src?.path) {
        simple(res, 404, 'this relay does not know that image\n');
        return 'not-found';
      }
      fill = this.#fills.start(imageId, src.path);
    }
    this.misses.inc();
    try {
      await fill.ready;
    } catch (err) {
      const e = err as FillError;
      simple(res, e.status, `${e.message}\n`);
      return 'error';
    }
    // The fill may have completed between the check and now: serve the object then.
    if (fill.verified && this.has(fill.sha256)) await this.#serveObject(req, res, fill.sha256);
    else await this.#serveGrowing(req, res, fill);
    return coalesced ? 'coalesced' : 'miss';
  }

  #objectPath(sha: string): string {
    return join(this.#o.dir, 'objects', sha);
  }

  #copy(res: ServerResponse, src: ByteSource, start: number, end: number): Promise<void> {
    return copyRange(res, src, start, end, { chunkBytes: this.#chunkBytes, onBytes: (n) => this.bytesServed.inc(undefined, n) });
  }

  async #serveObject(req: IncomingMessage, res: ServerResponse, sha: string): Promise<void> {
    const entry = this.#lru.get(sha)!;
    const path = this.#objectPath(sha);
    const now = Date.now();
    if (now - entry.lastUsed > TOUCH_EVERY_MS) utimes(path, now / 1000, now / 1000).catch(() => undefined);
    entry.lastUsed = now;
    const span = startResponse(req, res, sha, entry.size);
    if (!span || req.method === 'HEAD') return void res.end();
    const copy = this.#memory.get(sha, path, entry.size, now);
    if (copy) {
      const data = await copy.catch(() => null);
      if (data) return this.#copy(res, bufferSource(data), span.start, span.end);
    }
    const fh = this.#handles.acquire(sha, path);
    try {
      const f = await fh;
      await this.#copy(res, fileSource(f, () => span.end), span.start, span.end);
    } catch {
      res.destroy(); // the object vanished under us (evicted before its first open)
    } finally {
      this.#handles.release(sha);
    }
  }

  async #serveGrowing(req: IncomingMessage, res: ServerResponse, fill: Fill): Promise<void> {
    const span = startResponse(req, res, fill.sha256, fill.size);
    if (!span || req.method === 'HEAD') return void res.end();
    let fh: FileHandle;
    try {
      // Opened now, before the fill may rename the file into objects/: the fd follows the rename.
      fh = await open(fill.verified ? fill.objectPath : fill.partPath, 'r');
    } catch {
      return void res.destroy();
    }
    // Every response's last byte waits for the digest: no client completes unverified bytes.
    const limit = () => {
      if (fill.error) throw fill.error;
      return fill.verified ? span.end : Math.min(fill.written, span.end - 1);
    };
    try {
      await this.#copy(res, fileSource(fh, limit, () => fill.progressed()), span.start, span.end);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  #evict(keep: string): void {
    for (const sha of this.#lru.evict(keep)) {
      unlink(this.#objectPath(sha)).catch(() => undefined);
      this.#memory.drop(sha);
      this.evictions.inc();
    }
  }

  /**
   * Stops timers and fds, and saves the index's last changes (synchronously when no write is in flight,
   * so a caller that does not await still leaves them on disk). Partial files stay for the next run.
   */
  close(): Promise<void> {
    this.#memory.close();
    this.#handles.close();
    return this.#index.close();
  }
}

export function simple(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
}
