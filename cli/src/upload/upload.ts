/**
 * Image bytes from a local file to the API, streamed from disk (never whole in memory).
 *
 * Small files go in one `PUT /v1/images/{id}/content`. Larger ones use the multipart API: parts
 * of `partSize` bytes sent in order (the server hashes them in order, keeping the SHA-256
 * midstate between parts), each retried with backoff when the network or the server fails, and
 * the upload id saved locally so that an interrupted upload resumes where the server says it
 * stands (`GET …/uploads/{u}`) instead of starting over. The file's SHA-256 is computed here
 * while streaming and compared with the one the server computed; `expectSha256` also makes the
 * server refuse bytes that do not match.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Image, ImageUpload } from '../../../shared/schemas/image.ts';
import { ApiError, NetworkError, readJson, type ApiClient } from '../api-client.ts';
import { CliError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { formatBytes } from '../output.ts';
import type { Progress } from './progress.ts';
import type { UploadKey, UploadStateStore } from './state.ts';

/** Read size per chunk: large enough for disk and socket throughput, small enough to show progress. */
const CHUNK = 1024 * 1024;

export interface UploadOptions {
  api: ApiClient;
  image: Image;
  /** Absolute (real) path of the file. */
  path: string;
  partSize: number;
  mode: 'auto' | 'single' | 'multipart';
  expectSha256?: string;
  /** An upload id to continue, instead of the one saved for this file (or a new one). */
  resumeUploadId?: string;
  /** Retries per part (and for the single PUT), after the first attempt. */
  retries: number;
  /** First backoff delay; doubled each retry, capped at 30 s, with jitter. */
  retryDelayMs: number;
  state: UploadStateStore;
  progress: Progress;
  signal: AbortSignal;
}

export interface UploadResult {
  image: Image;
  sha256: string;
  mode: 'single' | 'multipart';
  uploadId: string | null;
  /** The first part this run sent (> 1 when it resumed an upload), null for a single PUT. */
  resumedFromPart: number | null;
  partsSent: number[];
  retries: number;
  bytesSent: number;
  seconds: number;
}

/** Network failures, timeouts and 5xx/408/429 answers: sending again may work. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  return err instanceof ApiError && (err.status >= 500 || err.status === 408 || err.status === 429);
}

/** Exponential backoff with full jitter on the upper half: attempt 1 → ~base, 2 → ~2×base … ≤ 30 s. */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** A byte range of an open file as a request body, feeding `onChunk` (hash, progress) as it is read. */
function fileRange(fh: FileHandle, start: number, length: number, onChunk: (chunk: Uint8Array) => void): ReadableStream<Uint8Array> {
  let pos = start;
  const end = start + length;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        if (pos >= end) {
          ctl.close();
          return;
        }
        // A fresh buffer per chunk: fetch may still hold the previous one.
        const buf = new Uint8Array(Math.min(CHUNK, end - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos);
        if (bytesRead === 0) {
          ctl.error(new CliError(EXIT.ERROR, `the file got shorter while it was being uploaded (${pos} of ${end} bytes read)`));
          return;
        }
        pos += bytesRead;
        const chunk = bytesRead === buf.byteLength ? buf : buf.subarray(0, bytesRead);
        onChunk(chunk);
        ctl.enqueue(chunk);
      },
    },
    { highWaterMark: 1 },
  );
}

/** Hashes a byte range of the file into `hash` (the parts a resumed upload does not send again). */
async function hashRange(fh: FileHandle, hash: Hash, start: number, length: number, signal: AbortSignal): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  for (let pos = start; pos < start + length; ) {
    if (signal.aborted) throw new CliError(EXIT.INTERRUPTED, 'interrupted while hashing the parts already uploaded', { hint: 'run the same command again to resume' });
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, start + length - pos), pos);
    if (bytesRead === 0) throw new CliError(EXIT.ERROR, 'the file got shorter than the upload it resumes');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

export async function uploadFile(o: UploadOptions): Promise<UploadResult> {
  const st = await stat(o.path);
  const key: UploadKey = { url: o.api.url, imageId: o.image.id, path: o.path, size: st.size, mtimeMs: st.mtimeMs };
  const t0 = Date.now();
  const fh = await open(o.path, 'r');
  try {
    const single = o.mode === 'single' || (o.mode === 'auto' && !o.resumeUploadId && !o.state.read(key) && st.size <= o.partSize);
    const result = single ? await singlePut(o, fh, st.size) : await multipart(o, fh, key);
    // Bytes read from a file that changed meanwhile are some mix of old and new: refuse them.
    const after = await stat(o.path);
    if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
      throw new CliError(EXIT.ERROR, `${o.path} changed while it was being uploaded`, { hint: `delete the image (edgeboot images delete ${o.image.id}) and upload again` });
    }
    if (result.image.sha256 !== result.sha256) {
      throw new CliError(EXIT.ERROR, `the server stored SHA-256 ${result.image.sha256}, but the file's is ${result.sha256}`, {
        hint: `the bytes were damaged on the way; delete the image (edgeboot images delete ${o.image.id}) and upload again`,
      });
    }
    return { ...result, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await fh.close();
  }
}

type Partial = Omit<UploadResult, 'seconds'>;

async function singlePut(o: UploadOptions, fh: FileHandle, size: number): Promise<Partial> {
  o.progress.start(`uploading ${o.image.name}`, size, 0);
  let retries = 0;
  let sent = 0;
  for (let attempt = 1; ; attempt++) {
    const hash = createHash('sha256');
    let read = 0;
    const body = fileRange(fh, 0, size, (chunk) => {
      hash.update(chunk);
      read += chunk.byteLength;
      o.progress.update(read);
    });
    try {
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
      if (o.expectSha256) headers['x-expected-sha256'] = o.expectSha256;
      const res = await o.api.fetch('PUT', `/v1/images/${o.image.id}/content`, { body, headers, signal: o.signal });
      const image = (await readJson(res)) as Image;
      sent += read;
      o.progress.stop();
      return { image, sha256: hash.digest('hex'), mode: 'single', uploadId: null, resumedFromPart: null, partsSent: [], retries, bytesSent: sent };
    } catch (err) {
      sent += read;
      if (o.signal.aborted) throw interrupted(o, null);
      if (!isRetryable(err) || attempt > o.retries) {
        o.progress.stop();
        throw err;
      }
      retries++;
      const delay = backoffMs(attempt, o.retryDelayMs);
      o.progress.note(`upload failed (${(err as Error).message}); retry ${attempt}/${o.retries} in ${(delay / 1000).toFixed(1)}s`);
      o.progress.update(0);
      await pause(delay, o, null);
    }
  }
}

async function multipart(o: UploadOptions, fh: FileHandle, key: UploadKey): Promise<Partial> {
  const { api, image } = o;
  const base = `/v1/images/${image.id}/uploads`;
  let upload = await findUpload(o, key);
  if (!upload) {
    try {
      upload = await api.post<ImageUpload>(base, { size: key.size, partSize: o.partSize, expectedSha256: o.expectSha256 });
    } catch (err) {
      // The API names the open upload in its 409: say how to resume or abort it.
      const open = err instanceof ApiError && err.status === 409 ? /upl_[0-9a-z]{26}/.exec(err.message)?.[0] : undefined;
      if (!open) throw err;
      const e = err as ApiError;
      throw new ApiError(e.status, e.code, `another upload of this image is open (${open})`, e.requestId, [],
        `if it was started with this same file, resume it: add --resume ${open}; otherwise abort it: edgeboot images abort-upload ${image.name} ${open}`);
    }
    o.state.write({ ...key, uploadId: upload.id, partSize: upload.partSize, startedAt: new Date().toISOString() });
  }
  const u = upload;
  const count = u.partCount;
  const partLength = (n: number) => (n < count ? u.partSize : u.size - u.partSize * (count - 1));
  const first = u.partsDone + 1;

  let hash = createHash('sha256');
  if (u.partsDone > 0) {
    o.progress.note(`resuming upload ${u.id}: ${u.partsDone} of ${count} parts (${formatBytes(u.bytesDone)}) are on the server; hashing them locally`);
    await hashRange(fh, hash, 0, u.bytesDone, o.signal);
  }
  o.progress.start(`uploading ${image.name}`, u.size, u.bytesDone);

  const partsSent: number[] = [];
  let retries = 0;
  let sent = 0;
  for (let n = first; n <= count; n++) {
    const start = (n - 1) * u.partSize;
    const length = partLength(n);
    hash = await sendPart(n, start, length);
    partsSent.push(n);
    o.progress.note(`part ${n}/${count} stored (${formatBytes(start + length)} of ${formatBytes(u.size)})`);
  }

  /** Sends part n until it is stored; returns the file's hash through the end of the part. */
  async function sendPart(n: number, start: number, length: number): Promise<Hash> {
    for (let attempt = 1; ; attempt++) {
      const h = hash.copy();
      let read = 0;
      const body = fileRange(fh, start, length, (chunk) => {
        h.update(chunk);
        read += chunk.byteLength;
        o.progress.update(start + read);
      });
      try {
        const res = await api.fetch('PUT', `${base}/${u.id}/parts/${n}`, {
          body,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
          signal: o.signal,
        });
        await readJson(res);
        sent += read;
        return h; // the server stored `length` bytes, so all of them went through `h`
      } catch (err) {
        sent += read;
        if (o.signal.aborted) throw interrupted(o, u, n - 1);
        if (!isRetryable(err) || attempt > o.retries) {
          o.progress.stop();
          throw withResumeHint(err, o, u);
        }
        retries++;
        const delay = backoffMs(attempt, o.retryDelayMs);
        o.progress.note(`part ${n}/${count} failed (${(err as Error).message}); retry ${attempt}/${o.retries} in ${(delay / 1000).toFixed(1)}s`);
        o.progress.update(start);
        await pause(delay, o, u, n - 1);
        // The part may have arrived although its answer did not: then it is not sent again.
        const now = await api.get<ImageUpload>(`${base}/${u.id}`).catch(() => null);
        if (now && now.partsDone >= n) {
          o.progress.note(`part ${n}/${count} had arrived; not sending it again`);
          if (read === length) return h;
          const again = hash.copy();
          await hashRange(fh, again, start, length, o.signal);
          return again;
        }
      }
    }
  }

  let done: Image | null = null;
  for (let attempt = 1; !done; attempt++) {
    try {
      done = await api.post<Image>(`${base}/${u.id}/complete`);
    } catch (err) {
      if (!isRetryable(err) || attempt > o.retries) {
        o.progress.stop();
        throw withResumeHint(err, o, u);
      }
      retries++;
      await pause(backoffMs(attempt, o.retryDelayMs), o, u, count);
      // A completion whose answer was lost has made the image ready.
      const img = await api.get<Image>(`/v1/images/${image.id}`).catch(() => null);
      if (img?.status === 'ready') done = img;
    }
  }
  o.progress.stop();
  o.state.remove(key);
  return { image: done, sha256: hash.digest('hex'), mode: 'multipart', uploadId: u.id, resumedFromPart: first > 1 ? first : null, partsSent, retries, bytesSent: sent };
}

/** Waits out a backoff; Ctrl-C during the wait interrupts like Ctrl-C during a part. */
async function pause(ms: number, o: UploadOptions, u: ImageUpload | null, partsDone = 0): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: o.signal });
  } catch {
    throw interrupted(o, u, partsDone);
  }
}

function interrupted(o: UploadOptions, u: ImageUpload | null, partsDone = 0): CliError {
  o.progress.stop();
  if (!u) return new CliError(EXIT.INTERRUPTED, 'interrupted; nothing was kept (a single-request upload cannot be resumed)', { hint: 'run the same command again' });
  return new CliError(EXIT.INTERRUPTED, `interrupted: ${partsDone} of ${u.partCount} parts of upload ${u.id} are on the server`, {
    hint: 'run the same command again to resume it',
  });
}

/** A failed multipart upload can be resumed: say how, under the error. */
function withResumeHint(err: unknown, o: UploadOptions, u: ImageUpload): unknown {
  if (!(err instanceof CliError) || err.exitCode === EXIT.REJECTED) return err;
  return new CliError(err.exitCode, err.message, {
    details: err.details,
    hint: `${err.hint ? `${err.hint}; then ` : ''}run the same command again to resume upload ${u.id} (or abort it: edgeboot images abort-upload ${o.image.name} ${u.id})`,
  });
}

/** The saved upload of this file, or the one named with --resume, if the server still has it. */
async function findUpload(o: UploadOptions, key: UploadKey): Promise<ImageUpload | null> {
  const saved = o.state.read(key);
  const id = o.resumeUploadId ?? saved?.uploadId;
  if (!id) return null;
  let u: ImageUpload;
  try {
    u = await o.api.get<ImageUpload>(`/v1/images/${o.image.id}/uploads/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404) || o.resumeUploadId) throw err;
    o.state.remove(key);
    o.progress.note(`the saved upload ${id} is gone from the server (completed elsewhere, expired or aborted); starting a new one`);
    return null;
  }
  if (u.size !== key.size) {
    throw new CliError(EXIT.USAGE, `upload ${u.id} is for ${u.size} bytes, but ${o.path} has ${key.size}`, { hint: 'resume it with the file it was started with, or abort it' });
  }
  if (Date.parse(u.expiresAt) <= Date.now()) {
    await o.api.delete(`/v1/images/${o.image.id}/uploads/${u.id}`).catch(() => {});
    o.state.remove(key);
    o.progress.note(`upload ${u.id} expired; starting a new one`);
    return null;
  }
  if (o.resumeUploadId) o.state.write({ ...key, uploadId: u.id, partSize: u.partSize, startedAt: u.createdAt });
  return u;
}
