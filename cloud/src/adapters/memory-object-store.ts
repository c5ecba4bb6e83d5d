import { exactLength } from './exact-length.ts';
import type { ByteRange, ObjectBody, ObjectInfo, ObjectStore } from '../ports/object-store.ts';

/** Objects in memory, for tests and the in-process column of the contract suite. */
export function memoryObjectStore(): ObjectStore {
  const objects = new Map<string, { bytes: Uint8Array<ArrayBuffer>; info: ObjectInfo }>();
  const uploads = new Map<string, { key: string; contentType: string; parts: Map<number, { bytes: Uint8Array<ArrayBuffer>; etag: string }> }>();
  let seq = 0;

  const collect = async (body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array<ArrayBuffer>> => {
    return new Uint8Array(await new Response(exactLength(body, size)).arrayBuffer());
  };
  const etagOf = async (bytes: Uint8Array<ArrayBuffer>) => {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return [...d.slice(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  const stream = (bytes: Uint8Array<ArrayBuffer>) => new Blob([bytes]).stream();

  return {
    async put(key, body, { size, contentType }) {
      const bytes = await collect(body, size);
      const info = { size, etag: await etagOf(bytes), contentType };
      objects.set(key, { bytes, info });
      return info;
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | null> {
      const o = objects.get(key);
      if (!o) return null;
      if (!range) return { ...o.info, body: stream(o.bytes) };
      return { ...o.info, body: stream(o.bytes.subarray(range.offset, range.offset + range.length)), range };
    },
    async head(key) {
      return objects.get(key)?.info ?? null;
    },
    async delete(key) {
      objects.delete(key);
    },
    async createMultipart(key, contentType) {
      const id = `mem-${++seq}`;
      uploads.set(id, { key, contentType, parts: new Map() });
      return id;
    },
    async uploadPart(key, uploadId, partNumber, body, size) {
      const u = uploads.get(uploadId);
      if (!u || u.key !== key) throw new Error('no such upload');
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new Error(`part number ${partNumber} outside 1…10000`);
      const bytes = await collect(body, size);
      const etag = await etagOf(bytes);
      u.parts.set(partNumber, { bytes, etag });
      return etag;
    },
    async completeMultipart(key, uploadId, parts) {
      const u = uploads.get(uploadId);
      if (!u || u.key !== key) throw new Error('no such upload');
      if (parts.length === 0) throw new Error('a multipart upload needs at least one part');
      const chunks = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => {
        const part = u.parts.get(p.partNumber);
        if (!part) throw new Error(`part ${p.partNumber} was not uploaded`);
        if (part.etag !== p.etag) throw new Error(`part ${p.partNumber} has etag ${part.etag}, not ${p.etag}`);
        return part.bytes;
      });
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      const info = { size: bytes.length, etag: await etagOf(bytes), contentType: u.contentType };
      objects.set(key, { bytes, info });
      uploads.delete(uploadId);
      return info;
    },
    async abortMultipart(_key, uploadId) {
      uploads.delete(uploadId);
    },
  };
}
