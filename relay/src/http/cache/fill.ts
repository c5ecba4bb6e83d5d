import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, unlinkSync, existsSync } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SHA256_HEX } from '../../../../shared/crypto/sha256.ts';
import type { Logger } from '../../log.ts';
import { header, type CloudClient } from '../../sync/cloud-client.ts';
import type { Counter } from '../metrics.ts';
import { syncDir, writeFileDurable } from './durable-file.ts';

/*
 * Filling the cache from the cloud: one upstream fetch per image however many clients ask
 * (single-flight), resumable, and verified before anything is kept.
 *
 *   partial/<imageId>.part   the bytes so far
 *   partial/<imageId>.json   {sha256, size}: what the part belongs to (for If-Range on resume), and
 *                            after promotion the journal of the imageId → sha256 link until the index
 *                            holding that link is on disk (source-index.ts)
 */

export class FillError extends Error {
  /** The HTTP status a waiting client gets. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/**
 * One upstream fetch in progress. `ready` settles once size and sha256 are known; readers then follow
 * `written` and wait for `verified` (every 'progress' event may have changed either, or `error`).
 */
export class Fill extends EventEmitter {
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

  /** Resolves on the next progress (bytes written, verified, or failed). */
  progressed(): Promise<void> {
    return new Promise<void>((resolve) => this.once('progress', resolve));
  }

  /** Resolves when verified and in objects/; rejects with the fill's error. */
  async done(): Promise<void> {
    await this.ready;
    while (!this.verified) {
      if (this.error) throw this.error;
      await this.progressed();
    }
  }
}

export interface FillDeps {
  client: CloudClient;
  log: Logger;
  partialDir: string;
  objectPath(sha256: string): string;
  /** An object already complete on disk: its bytes are not fetched again. */
  hasObject(sha256: string): boolean;
  /**
   * The object is verified in objects/ (`fresh`: this fill put it there). Resolves once the
   * imageId → sha256 link is durable, after which the fill's journal goes.
   */
  onVerified(imageId: string, sha256: string, size: number, path: string, fresh: boolean): Promise<void>;
  bytesFetched: Counter;
  verifyFailures: Counter;
}

export class Fills {
  readonly #d: FillDeps;
  readonly #running = new Map<string, Fill>();
  /** Requests sent to the cloud for image bytes (the single-flight measure). */
  upstreamFetches = 0;

  constructor(d: FillDeps) {
    this.#d = d;
  }

  running(imageId: string): Fill | undefined {
    return this.#running.get(imageId);
  }

  /** The fill of `imageId`: the one running, or a new one from `path`. */
  start(imageId: string, path: string): Fill {
    const running = this.#running.get(imageId);
    if (running) return running;
    const fill = new Fill(imageId, join(this.#d.partialDir, `${imageId}.part`));
    this.#running.set(imageId, fill);
    this.#run(fill, path)
      .catch((err: unknown) => {
        const e = err instanceof FillError ? err : new FillError(`upstream fetch failed: ${(err as Error).message}`, 502);
        fill.error = e;
        fill.rejectReady(e);
        this.#d.log.once(`fill-${imageId}`, 'image fill failed', { imageId, err: e.message, written: fill.written });
      })
      .finally(() => {
        this.#running.delete(imageId);
        fill.emit('progress');
      });
    return fill;
  }

  /**
   * 1. Resume state: a part with its {sha256, size} continues with `Range: bytes=<have>-` and
   *    `If-Range: "<sha256>"` (a changed object comes back whole, 200, and restarts from 0).
   * 2. Upstream answer: 200 or 206 (the range asked for, same ETag), a sha256 ETag, a known size.
   * 3. An object already on disk (its link lost, e.g. with an index not yet saved at a crash) is
   *    linked again; its bytes are not fetched.
   * 4. Bytes go to the part while readers follow `written`; the digest covers kept and new bytes.
   * 5. Verified: fsync, rename into objects/, fsync the directory; only then linked and announced.
   */
  async #run(fill: Fill, path: string): Promise<void> {
    const d = this.#d;
    const metaPath = journalPath(fill.partPath);
    // 1.
    let meta: { sha256: string; size: number } | null = null;
    let have = 0;
    try {
      meta = JSON.parse(await readFile(metaPath, 'utf8'));
      have = (await stat(fill.partPath)).size;
      if (have >= (meta?.size ?? 0)) have = 0; // complete but never promoted (a crash): fetch again
    } catch {
      have = 0;
    }
    const headers: Record<string, string> = {};
    if (have > 0 && meta) {
      headers.range = `bytes=${have}-`;
      headers['if-range'] = `"${meta.sha256}"`;
    }
    // 2.
    this.upstreamFetches++;
    const res = await d.client.request({ method: 'GET', path, headers, auth: false, retry: true });
    const etag = (header(res.headers, 'etag') ?? '').replace(/^W\//, '').replaceAll('"', '');
    const refuse = async (message: string, status = 502): Promise<never> => {
      await res.body.dump();
      throw new FillError(message, status);
    };
    if (res.status !== 200 && res.status !== 206) {
      await refuse(`the cloud answered ${res.status} for the image`, res.status === 404 || res.status === 403 || res.status === 410 ? 404 : 502);
    }
    if (!SHA256_HEX.test(etag)) await refuse('the cloud sent no sha256 ETag for the image');
    let size: number;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(res.headers, 'content-range') ?? '');
      if (!cr || Number(cr[1]) !== have || etag !== meta?.sha256) await refuse('the cloud answered a resume with a range this relay did not ask for');
      size = Number(cr![3]);
    } else {
      size = Number(header(res.headers, 'content-length'));
      have = 0;
      if (!Number.isSafeInteger(size)) await refuse('the cloud sent no Content-Length for the image');
    }
    fill.sha256 = etag;
    fill.size = size;
    fill.objectPath = d.objectPath(etag);
    // 3.
    if (d.hasObject(etag)) {
      await res.body.dump();
      // A part kept from an earlier, cut-off fill of the same bytes is no longer needed.
      await unlink(fill.partPath).catch(() => undefined);
      fill.written = size;
      fill.verified = true;
      fill.resolveReady();
      fill.emit('progress');
      await d.onVerified(fill.imageId, etag, size, path, false);
      await unlink(metaPath).catch(() => undefined);
      return;
    }
    // 4.
    await writeFileDurable(metaPath, JSON.stringify({ sha256: etag, size }));
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
        d.bytesFetched.inc(undefined, chunk.length);
        fill.emit('progress');
      }
      if (fill.written !== size) throw new FillError(`the upstream body ended after ${fill.written} of ${size} bytes`, 502);
      // 5.
      const digest = hash.digest('hex');
      if (digest !== etag) {
        d.verifyFailures.inc();
        await fh.close().catch(() => undefined);
        await Promise.all([unlink(fill.partPath).catch(() => undefined), unlink(metaPath).catch(() => undefined)]);
        throw new FillError(`the image bytes have sha256 ${digest}, not ${etag}: refused`, 502);
      }
      await fh.sync();
    } finally {
      await fh.close().catch(() => undefined);
    }
    await rename(fill.partPath, fill.objectPath);
    await syncDir(dirname(fill.objectPath));
    fill.verified = true;
    const linked = d.onVerified(fill.imageId, etag, size, path, true);
    fill.emit('progress');
    await linked;
    await unlink(metaPath).catch(() => undefined);
  }
}

function journalPath(partPath: string): string {
  return `${partPath.slice(0, -'.part'.length)}.json`;
}

/**
 * At start-up (synchronously: nothing is served yet). A journal whose part is gone and whose object
 * is in objects/ is a promotion whose link the index may not have saved before a crash: `link` makes
 * it again, and the journal's path is returned, to be removed once the index holding the link is
 * saved. Any other journal without a part is stale and removed now.
 */
export function replayJournals(partialDir: string, hasObject: (sha256: string) => boolean, link: (imageId: string, sha256: string, size: number) => void): string[] {
  const replayed: string[] = [];
  for (const f of readdirSync(partialDir)) {
    if (!f.endsWith('.json')) continue;
    const imageId = f.slice(0, -'.json'.length);
    const path = join(partialDir, f);
    if (existsSync(join(partialDir, `${imageId}.part`))) continue; // a fill to resume, not a journal
    try {
      const m = JSON.parse(readFileSync(path, 'utf8')) as { sha256?: unknown; size?: unknown };
      if (typeof m.sha256 === 'string' && SHA256_HEX.test(m.sha256) && Number.isSafeInteger(m.size) && hasObject(m.sha256)) {
        link(imageId, m.sha256, m.size as number);
        replayed.push(path);
        continue;
      }
    } catch {
      // torn or unreadable: nothing to replay
    }
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  return replayed;
}
