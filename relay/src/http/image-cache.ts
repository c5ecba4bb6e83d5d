import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimes } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SHA256_HEX } from '../../../shared/crypto/sha256.ts';
import { decideRange } from '../../../shared/http/range.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../sync/atomic-file.ts';
import { header, type CloudClient } from '../sync/cloud-client.ts';
import type { Counter, MetricsRegistry } from './metrics.ts';

/*
 * The image cache: a read-through cache on local disk in front of the cloud's signed /v1/files.
 *
 *   <dir>/objects/<sha256>        complete objects, verified, named by content (the cloud's ETag)
 *   <dir>/partial/<imageId>.part  a fill in progress or cut off; `.json` beside it: {sha256, size}
 *   <dir>/sources.json            imageId → {path: upstream '/v1/files/<id>?sig=…', sha256, size}
 *
 * - One upstream fetch per object however many clients ask: the first request starts a fill, every
 *   other one (and the first) streams from the partial file as it grows (single-flight).
 * - Verified before it is served: bytes stream while the fill runs, but the LAST byte of every
 *   response (whole or range) is held back until the whole object's sha256 matches the ETag. On a mismatch the
 *   connections are reset, so no client completes a corrupt download, and nothing is cached.
 * - Resumable: a fill cut off (WAN, relay restart) leaves its partial file; the next fill continues
 *   with `Range: bytes=<have>-` and `If-Range: "<sha256>"` (a changed object restarts from 0) and
 *   re-hashes the bytes it already has.
 * - Size-bounded LRU: the objects' mtime is their last use (survives restarts); adding an object
 *   evicts the least recently used ones until the total fits. Open readers keep their fd (POSIX).
 * - Images are immutable once ready in the cloud (an image id always names the same bytes), which is
 *   why imageId → sha256 can be remembered and served during a WAN cut.
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
}

interface Source {
  path: string | null;
  sha256: string | null;
  size: number | null;
}

interface ObjectEntry {
  size: number;
  lastUsed: number;
}

class FillError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** One upstream fetch in progress; readers follow `written` and wait for `verified`. */
class Fill extends EventEmitter {
  size = -1;
  sha256 = '';
  written = 0;
  verified = false;
  error: FillError | null = null;
  objectPath = '';
  readonly ready: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (e: FillError) => void;
  readonly imageId: string;
  readonly partPath: string;
  constructor(imageId: string, partPath: string) {
    super();
    this.imageId = imageId;
    this.partPath = partPath;
    this.setMaxListeners(0);
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => undefined);
  }
}

export type ServeOutcome = 'hit' | 'miss' | 'coalesced' | 'not-found' | 'error';

export class ImageCache {
  readonly #o: ImageCacheOptions;
  readonly #sources = new Map<string, Source>();
  readonly #objects = new Map<string, ObjectEntry>();
  readonly #fills = new Map<string, Fill>();
  readonly #fds = new Map<string, { fh: Promise<FileHandle>; refs: number }>();
  readonly #hot = new Map<string, { data: Promise<Buffer>; size: number; lastUsed: number }>();
  #hotBytes = 0;
  readonly #sweeper: NodeJS.Timeout;
  #totalBytes = 0;
  readonly hits: Counter;
  readonly misses: Counter;
  readonly bytesServed: Counter;
  readonly bytesFetched: Counter;
  readonly verifyFailures: Counter;
  readonly evictions: Counter;
  upstreamFetches = 0;

  constructor(o: ImageCacheOptions) {
    this.#o = o;
    for (const d of ['objects', 'partial']) mkdirSync(join(o.dir, d), { recursive: true, mode: 0o700 });
    this.hits = o.metrics.counter('edgeboot_relay_cache_hits_total', 'image requests served from a complete cached object');
    this.misses = o.metrics.counter('edgeboot_relay_cache_misses_total', 'image requests that started or joined an upstream fill');
    this.bytesServed = o.metrics.counter('edgeboot_relay_cache_served_bytes_total', 'image bytes sent to LAN clients');
    this.bytesFetched = o.metrics.counter('edgeboot_relay_cache_fetched_bytes_total', 'image bytes fetched from the cloud');
    this.verifyFailures = o.metrics.counter('edgeboot_relay_cache_verify_failures_total', 'fills refused because the sha256 did not match');
    this.evictions = o.metrics.counter('edgeboot_relay_cache_evictions_total', 'objects evicted by the size bound');
    o.metrics.gauge('edgeboot_relay_cache_bytes', 'bytes of complete objects on disk', () => this.#totalBytes);
    o.metrics.gauge('edgeboot_relay_cache_objects', 'complete objects on disk', () => this.#objects.size);
    o.metrics.gauge('edgeboot_relay_cache_memory_bytes', 'bytes of hot objects held in memory', () => this.#hotBytes);
    this.#load();
    const idle = o.hotIdleMs ?? 30_000;
    this.#sweeper = setInterval(() => {
      const now = Date.now();
      for (const [sha, h] of this.#hot) if (now - h.lastUsed > idle) this.#dropHot(sha);
    }, Math.max(1000, idle / 2));
    this.#sweeper.unref();
  }

  #load(): void {
    try {
      const saved = JSON.parse(readFileSync(join(this.#o.dir, 'sources.json'), 'utf8')) as Record<string, Source>;
      for (const [id, s] of Object.entries(saved)) this.#sources.set(id, s);
    } catch {
      // first run, or unreadable: sources come back with the next scripts
    }
    for (const f of readdirSync(join(this.#o.dir, 'objects'))) {
      if (!SHA256_HEX.test(f)) continue;
      const st = statSync(join(this.#o.dir, 'objects', f));
      this.#objects.set(f, { size: st.size, lastUsed: st.mtimeMs });
      this.#totalBytes += st.size;
    }
  }

  #saveSources(): void {
    writeFileAtomic(join(this.#o.dir, 'sources.json'), JSON.stringify(Object.fromEntries(this.#sources)));
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  has(sha256: string): boolean {
    return this.#objects.has(sha256);
  }

  /** Remembers where the cloud serves an image (a fresh signed path from the latest script). */
  setSource(imageId: string, path: string): void {
    const s = this.#sources.get(imageId);
    if (s?.path === path) return;
    this.#sources.set(imageId, { path, sha256: s?.sha256 ?? null, size: s?.size ?? null });
    this.#saveSources();
  }

  #objectPath(sha: string): string {
    return join(this.#o.dir, 'objects', sha);
  }

  /**
   * The complete, verified object of an image on local disk, or null (not cached, or still filling).
   * For servers that read files synchronously (TFTP serves shim and GRUB from here); marks it used.
   */
  localObject(imageId: string): { path: string; size: number } | null {
    const sha = this.#sources.get(imageId)?.sha256;
    const o = sha ? this.#objects.get(sha) : undefined;
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
    const fill = this.#fills.get(imageId) ?? this.#startFill(imageId, path);
    await fill.ready;
    if (!fill.verified) await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (fill.error) return reject(fill.error);
        if (fill.verified) return resolve();
        fill.once('progress', check);
      };
      check();
    });
  }

  /** Answers GET/HEAD for an image (the caller checked the client's grant). */
  async serve(req: IncomingMessage, res: ServerResponse, imageId: string): Promise<ServeOutcome> {
    const src = this.#sources.get(imageId);
    if (src?.sha256 && this.#objects.has(src.sha256)) {
      this.hits.inc();
      await this.#serveObject(req, res, src.sha256);
      return 'hit';
    }
    let fill = this.#fills.get(imageId);
    const coalesced = fill !== undefined;
    if (!fill) {
      if (!src?.path) {
        simple(res, 404, 'this relay does not know that image\n');
        return 'not-found';
      }
      fill = this.#startFill(imageId, src.path);
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
    if (fill.verified && this.#objects.has(fill.sha256)) await this.#serveObject(req, res, fill.sha256);
    else await this.#serveGrowing(req, res, fill);
    return coalesced ? 'coalesced' : 'miss';
  }

  #headers(sha: string, size: number, req: IncomingMessage, res: ServerResponse): { start: number; end: number } | null {
    const etag = `"${sha}"`;
    const ifRange = req.headers['if-range'];
    const d = decideRange(ifRange !== undefined && ifRange !== etag ? null : req.headers.range, size);
    const h: Record<string, string | number> = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
    if (d.kind === 'unsatisfiable') {
      res.writeHead(416, { ...h, 'content-range': d.contentRange, 'content-length': 0 }).end();
      return null;
    }
    if (d.kind === 'partial') {
      res.writeHead(206, { ...h, 'content-range': d.contentRange, 'content-length': d.length });
      return { start: d.offset, end: d.offset + d.length };
    }
    res.writeHead(200, { ...h, 'content-length': size });
    return { start: 0, end: size };
  }

  async #serveObject(req: IncomingMessage, res: ServerResponse, sha: string): Promise<void> {
    const entry = this.#objects.get(sha)!;
    const now = Date.now();
    // mtime is the LRU clock on disk; touching it once a minute is plenty.
    if (now - entry.lastUsed > 60_000) utimes(this.#objectPath(sha), now / 1000, now / 1000, () => undefined);
    entry.lastUsed = now;
    const span = this.#headers(sha, entry.size, req, res);
    if (!span || req.method === 'HEAD') return void res.end();
    const hot = this.#hotCopy(sha, entry.size, now);
    if (hot) return this.#writeFrom(res, await hot, span.start, span.end);
    const fd = this.#acquire(sha);
    try {
      await this.#stream(res, await fd, span.start, span.end);
    } finally {
      this.#release(sha);
    }
  }

  #hotCopy(sha: string, size: number, now: number): Promise<Buffer> | null {
    let h = this.#hot.get(sha);
    if (!h) {
      const budget = this.#o.memoryBytes ?? 0;
      if (size > budget) return null;
      // Make room by dropping the least recently used copies; in-flight writes keep their buffer.
      for (const [old, e] of [...this.#hot].sort((a, b) => a[1].lastUsed - b[1].lastUsed)) {
        if (this.#hotBytes + size <= budget) break;
        this.#dropHot(old);
      }
      if (this.#hotBytes + size > budget) return null;
      h = { data: readFile(this.#objectPath(sha)), size, lastUsed: now };
      h.data.catch(() => this.#dropHot(sha));
      this.#hot.set(sha, h);
      this.#hotBytes += size;
    }
    h.lastUsed = now;
    return h.data;
  }

  #dropHot(sha: string): void {
    const h = this.#hot.get(sha);
    if (!h) return;
    this.#hot.delete(sha);
    this.#hotBytes -= h.size;
  }

  /** Writes slices of a buffer (no copies in user space), waiting for drain. */
  async #writeFrom(res: ServerResponse, data: Buffer, start: number, end: number): Promise<void> {
    const chunk = this.#o.chunkBytes ?? 1024 * 1024;
    for (let pos = start; pos < end && !res.destroyed; pos += chunk) {
      const piece = data.subarray(pos, Math.min(end, pos + chunk));
      this.bytesServed.inc(undefined, piece.length);
      if (!res.write(piece)) await drained(res);
    }
    res.end();
  }

  /**
   * The hot path for complete objects (no sendfile in Node): large reads from a shared fd, the next
   * read already under way while the previous chunk is written, so disk and socket overlap.
   */
  async #stream(res: ServerResponse, fh: FileHandle, start: number, end: number): Promise<void> {
    const chunk = this.#o.chunkBytes ?? 1024 * 1024;
    const read = (at: number) => {
      const buf = Buffer.allocUnsafeSlow(Math.min(chunk, end - at));
      return fh.read(buf, 0, buf.length, at);
    };
    let pos = start;
    let next = pos < end ? read(pos) : null;
    while (next) {
      const { bytesRead, buffer } = await next;
      if (bytesRead === 0) throw new Error('the cached file ended early');
      pos += bytesRead;
      next = pos < end && !res.destroyed ? read(pos) : null;
      this.bytesServed.inc(undefined, bytesRead);
      if (!res.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead)) && next) await drained(res);
      if (res.destroyed) {
        await next?.catch(() => undefined);
        return;
      }
    }
    res.end();
  }

  /** Keeps one fd per hot object instead of an open() per request. */
  #acquire(sha: string): Promise<FileHandle> {
    let e = this.#fds.get(sha);
    if (!e) {
      e = { fh: open(this.#objectPath(sha), 'r'), refs: 0 };
      e.fh.catch(() => this.#fds.delete(sha));
      this.#fds.set(sha, e);
    }
    e.refs++;
    return e.fh;
  }

  #release(sha: string): void {
    const e = this.#fds.get(sha);
    if (!e || --e.refs > 0) return;
    this.#fds.delete(sha);
    void e.fh.then((fh) => fh.close()).catch(() => undefined);
  }

  /**
   * Writes [start, end) of `fh` to `res`, reading up to `limit()` (which grows during a fill), with
   * backpressure. `wait` resolves when more bytes may have become readable.
   */
  async #pump(res: ServerResponse, fh: FileHandle, start: number, end: number, limit: () => number, wait?: () => Promise<void>): Promise<void> {
    const chunk = this.#o.chunkBytes ?? 1024 * 1024;
    let pos = start;
    while (pos < end) {
      if (res.destroyed) return;
      const avail = Math.min(end, limit());
      if (pos >= avail) {
        await wait!();
        continue;
      }
      const buf = Buffer.allocUnsafe(Math.min(chunk, avail - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new Error('the cached file ended early');
      pos += bytesRead;
      this.bytesServed.inc(undefined, bytesRead);
      if (!res.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead))) await drained(res);
    }
    res.end();
  }

  async #serveGrowing(req: IncomingMessage, res: ServerResponse, fill: Fill): Promise<void> {
    const span = this.#headers(fill.sha256, fill.size, req, res);
    if (!span || req.method === 'HEAD') return void res.end();
    // Opened now, before the fill may rename the file into objects/: the fd follows the rename.
    const fh = await open(fill.verified ? fill.objectPath : fill.partPath, 'r');
    try {
      // Every response's last byte waits for the digest: no client completes unverified bytes.
      const limit = () => {
        if (fill.error) throw fill.error;
        return fill.verified ? span.end : Math.min(fill.written, span.end - 1);
      };
      await this.#pump(res, fh, span.start, span.end, limit, () => new Promise<void>((resolve) => fill.once('progress', resolve)));
    } catch {
      // Reset, not end: with Content-Length sent, a short body is an error to every client.
      res.destroy();
    } finally {
      await fh.close();
    }
  }

  #startFill(imageId: string, path: string): Fill {
    const fill = new Fill(imageId, join(this.#o.dir, 'partial', `${imageId}.part`));
    this.#fills.set(imageId, fill);
    this.#runFill(fill, path)
      .catch((err: unknown) => {
        const e = err instanceof FillError ? err : new FillError(`upstream fetch failed: ${(err as Error).message}`, 502);
        fill.error = e;
        fill.rejectReady(e);
        this.#o.log.once(`fill-${imageId}`, 'image fill failed', { imageId, err: e.message, written: fill.written });
      })
      .finally(() => {
        this.#fills.delete(imageId);
        fill.emit('progress');
      });
    return fill;
  }

  async #runFill(fill: Fill, path: string): Promise<void> {
    const metaPath = `${fill.partPath.slice(0, -5)}.json`;
    let have = 0;
    let meta: { sha256: string; size: number } | null = null;
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8'));
      have = statSync(fill.partPath).size;
    } catch {
      have = 0;
    }
    const headers: Record<string, string> = {};
    if (have > 0 && meta) {
      headers.range = `bytes=${have}-`;
      headers['if-range'] = `"${meta.sha256}"`;
    }
    this.upstreamFetches++;
    const res = await this.#o.client.request({ method: 'GET', path, headers, auth: false, retry: true });
    const etag = (header(res.headers, 'etag') ?? '').replace(/^W\//, '').replaceAll('"', '');
    if (res.status !== 200 && res.status !== 206) {
      await res.body.dump();
      throw new FillError(`the cloud answered ${res.status} for the image`, res.status === 404 || res.status === 403 || res.status === 410 ? 404 : 502);
    }
    if (!SHA256_HEX.test(etag)) {
      await res.body.dump();
      throw new FillError('the cloud sent no sha256 ETag for the image', 502);
    }
    let size: number;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(res.headers, 'content-range') ?? '');
      if (!cr || Number(cr[1]) !== have || etag !== meta?.sha256) {
        await res.body.dump();
        throw new FillError('the cloud answered a resume with a range this relay did not ask for', 502);
      }
      size = Number(cr[3]);
    } else {
      size = Number(header(res.headers, 'content-length'));
      have = 0;
      if (!Number.isSafeInteger(size)) {
        await res.body.dump();
        throw new FillError('the cloud sent no Content-Length for the image', 502);
      }
    }
    fill.sha256 = etag;
    fill.size = size;
    fill.objectPath = this.#objectPath(etag);
    writeFileAtomic(metaPath, JSON.stringify({ sha256: etag, size }));
    const hash = createHash('sha256');
    const fh = await open(fill.partPath, have > 0 ? 'r+' : 'w', 0o600);
    try {
      if (have > 0) {
        // The digest must cover the bytes kept from before: re-read them (local disk, cheap next to the WAN).
        const buf = Buffer.allocUnsafe(1024 * 1024);
        for (let pos = 0; pos < have; ) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, have - pos), pos);
          if (bytesRead === 0) break;
          hash.update(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
      }
      fill.written = have;
      fill.resolveReady();
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (fill.written + chunk.length > size) throw new FillError('the cloud sent more bytes than announced', 502);
        await fh.write(chunk, 0, chunk.length, fill.written);
        hash.update(chunk);
        fill.written += chunk.length;
        this.bytesFetched.inc(undefined, chunk.length);
        fill.emit('progress');
      }
      if (fill.written !== size) throw new FillError(`the upstream body ended after ${fill.written} of ${size} bytes`, 502);
      const digest = hash.digest('hex');
      if (digest !== etag) {
        this.verifyFailures.inc();
        await fh.close().catch(() => undefined);
        unlinkQuiet(fill.partPath);
        unlinkQuiet(metaPath);
        throw new FillError(`the image bytes have sha256 ${digest}, not ${etag}: refused`, 502);
      }
      await fh.sync();
    } finally {
      await fh.close().catch(() => undefined);
    }
    renameSync(fill.partPath, fill.objectPath);
    unlinkQuiet(metaPath);
    this.#objects.set(etag, { size, lastUsed: Date.now() });
    this.#totalBytes += size;
    const src = this.#sources.get(fill.imageId);
    this.#sources.set(fill.imageId, { path: src?.path ?? path, sha256: etag, size });
    this.#saveSources();
    fill.verified = true;
    fill.emit('progress');
    this.#evict(etag);
  }

  #evict(keep: string): void {
    if (this.#totalBytes <= this.#o.maxBytes) return;
    const order = [...this.#objects.entries()].filter(([sha]) => sha !== keep).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [sha, e] of order) {
      if (this.#totalBytes <= this.#o.maxBytes) break;
      unlinkQuiet(this.#objectPath(sha));
      this.#dropHot(sha);
      this.#objects.delete(sha);
      this.#totalBytes -= e.size;
      this.evictions.inc();
    }
  }

  /** Ends in-flight fills' waiting; partial files stay for the next run to resume. */
  close(): void {
    clearInterval(this.#sweeper);
    this.#hot.clear();
    this.#hotBytes = 0;
    for (const e of this.#fds.values()) void e.fh.then((fh) => fh.close()).catch(() => undefined);
    this.#fds.clear();
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

export function simple(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
}

