import type { ByteRange, ObjectBody, ObjectInfo, ObjectStore } from '../ports/object-store.ts';

/** Objects in memory, for tests and the in-process column of the contract suite. */
export function memoryObjectStore(): ObjectStore {
  const objects = new Map<string, { bytes: Uint8Array<ArrayBuffer>; info: ObjectInfo }>();
  const uploads = new Map<string, { key: string; contentType: string; parts: Map<number, Uint8Array<ArrayBuffer>> }>();
  let seq = 0;

  const collect = async (body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array<ArrayBuffer>> => {
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    if (bytes.length !== size) throw new Error(`expected ${size} bytes, got ${bytes.length}`);
    return bytes;
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
      const bytes = await collect(body, size);
      u.parts.set(partNumber, bytes);
      return etagOf(bytes);
    },
    async completeMultipart(key, uploadId, parts) {
      const u = uploads.get(uploadId);
      if (!u || u.key !== key) throw new Error('no such upload');
      const chunks = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => {
        const bytes = u.parts.get(p.partNumber);
        if (!bytes) throw new Error(`part ${p.partNumber} missing`);
        return bytes;
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
