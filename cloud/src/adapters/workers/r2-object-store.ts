import type { ByteRange, ObjectBody, ObjectInfo, ObjectStore } from '../../ports/object-store.ts';
import { SizeMismatchError } from '../exact-length.ts';

/**
 * ObjectStore over an R2 bucket binding. Bodies stay streams: R2 accepts a stream only when it knows
 * its length up front, so every upload goes through a FixedLengthStream of the declared size, which
 * also makes a body shorter or longer than declared fail instead of storing a truncated object.
 */
export function r2ObjectStore(bucket: R2Bucket): ObjectStore {
  const info = (o: R2Object, fallbackType = 'application/octet-stream'): ObjectInfo => ({
    size: o.size,
    etag: o.etag,
    contentType: o.httpMetadata?.contentType ?? fallbackType,
  });

  return {
    async put(key, body, { size, contentType }) {
      const o = await sized(size, bucket.put(key, fixedLength(body, size), { httpMetadata: { contentType } }));
      return info(o, contentType);
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | null> {
      const o = await bucket.get(key, range ? { range: { offset: range.offset, length: range.length } } : undefined);
      if (!o) return null;
      const body = o.body as ReadableStream<Uint8Array>;
      return range ? { ...info(o), body, range } : { ...info(o), body };
    },
    async head(key) {
      const o = await bucket.head(key);
      return o ? info(o) : null;
    },
    async delete(key) {
      await bucket.delete(key);
    },
    async createMultipart(key, contentType) {
      const u = await bucket.createMultipartUpload(key, { httpMetadata: { contentType } });
      return u.uploadId;
    },
    async uploadPart(key, uploadId, partNumber, body, size) {
      const part = await sized(size, bucket.resumeMultipartUpload(key, uploadId).uploadPart(partNumber, fixedLength(body, size)));
      return part.etag;
    },
    async completeMultipart(key, uploadId, parts) {
      const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => ({ partNumber: p.partNumber, etag: p.etag }));
      return info(await bucket.resumeMultipartUpload(key, uploadId).complete(ordered));
    },
    async abortMultipart(key, uploadId) {
      await bucket.resumeMultipartUpload(key, uploadId).abort();
    },
  };
}

/** A request body with Content-Length is already fixed-length, but a stream cannot tell us so: re-wrap it. */
function fixedLength(body: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  return body.pipeThrough(new FixedLengthStream(size));
}

/**
 * FixedLengthStream reports a wrong-sized body as a TypeError ("did not see all expected bytes",
 * "too many bytes"); the other stores throw SizeMismatchError for it, and so must this one.
 */
async function sized<T>(size: number, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    const m = err instanceof Error ? err.message : '';
    if (/FixedLengthStream did not see all/.test(m)) throw new SizeMismatchError(size, `fewer than ${size}`);
    if (/too many bytes through a FixedLengthStream/.test(m)) throw new SizeMismatchError(size, `more than ${size}`);
    throw err;
  }
}
