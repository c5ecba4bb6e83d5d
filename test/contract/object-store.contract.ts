import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../cloud/src/ports/object-store.ts';

/**
 * The behaviour every ObjectStore adapter must have: memory, folder, S3 (against Miniflare's local
 * R2 S3 API) and R2 (inside workerd). Web-standard only: this file also runs inside workerd.
 */

/** R2 and S3 refuse parts under 5 MiB except the last. */
const PART = 5 * 1024 * 1024;

/** Deterministic bytes, different per seed, so a misplaced slice shows. */
export function pattern(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 17 + (i >>> 8)) & 0xff;
  return out;
}

const stream = (bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> => new Blob([bytes]).stream();
const read = async (body: ReadableStream<Uint8Array>): Promise<Uint8Array> => new Uint8Array(await new Response(body).arrayBuffer());
const keyOf = (name: string): string => `contract/${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** `same` compares big buffers without vitest printing megabytes on failure. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function objectStoreContract(name: string, store: () => ObjectStore): void {
  describe(`ObjectStore contract — ${name}`, () => {
    it('stores a stream and gives back the same bytes, size and type', async () => {
      const s = store();
      const key = keyOf('put');
      const bytes = pattern(100_003);
      const put = await s.put(key, stream(bytes), { size: bytes.length, contentType: 'application/x-test' });
      expect(put).toMatchObject({ size: bytes.length, contentType: 'application/x-test' });
      expect(put.etag).not.toBe('');
      const got = await s.get(key);
      expect(got).not.toBeNull();
      expect(got!.size).toBe(bytes.length);
      expect(got!.contentType).toBe('application/x-test');
      expect(got!.etag).toBe(put.etag);
      expect(got!.range).toBeUndefined();
      expect(same(await read(got!.body), bytes)).toBe(true);
    });

    it('stores an empty object', async () => {
      const s = store();
      const key = keyOf('empty');
      await s.put(key, stream(new Uint8Array(0)), { size: 0, contentType: 'text/plain' });
      const got = await s.get(key);
      expect(got!.size).toBe(0);
      expect((await read(got!.body)).length).toBe(0);
    });

    it('reads a byte range: the slice, its bounds and the whole size', async () => {
      const s = store();
      const key = keyOf('range');
      const bytes = pattern(10_000, 2);
      await s.put(key, stream(bytes), { size: bytes.length, contentType: 'application/octet-stream' });
      for (const [offset, length] of [
        [0, 1],
        [1234, 4321],
        [9_999, 1],
        [0, 10_000],
      ] as const) {
        const got = await s.get(key, { offset, length });
        expect(got!.size).toBe(10_000);
        expect(got!.range).toEqual({ offset, length });
        expect(same(await read(got!.body), bytes.subarray(offset, offset + length))).toBe(true);
      }
    });

    it('answers head with size, etag and type, and null for a missing key', async () => {
      const s = store();
      const key = keyOf('head');
      const put = await s.put(key, stream(pattern(777)), { size: 777, contentType: 'image/png' });
      expect(await s.head(key)).toEqual({ size: 777, etag: put.etag, contentType: 'image/png' });
      expect(await s.head(keyOf('absent'))).toBeNull();
      expect(await s.get(keyOf('absent'))).toBeNull();
    });

    it('deletes an object, and deleting a missing key is no error', async () => {
      const s = store();
      const key = keyOf('delete');
      await s.put(key, stream(pattern(10)), { size: 10, contentType: 'text/plain' });
      await s.delete(key);
      expect(await s.head(key)).toBeNull();
      expect(await s.get(key)).toBeNull();
      await expect(s.delete(key)).resolves.toBeUndefined();
    });

    it('replaces an object on overwrite, with a new etag', async () => {
      const s = store();
      const key = keyOf('overwrite');
      const first = await s.put(key, stream(pattern(1000, 1)), { size: 1000, contentType: 'text/plain' });
      const second = pattern(500, 9);
      const again = await s.put(key, stream(second), { size: 500, contentType: 'text/csv' });
      expect(again.etag).not.toBe(first.etag);
      const got = await s.get(key);
      expect(got).toMatchObject({ size: 500, contentType: 'text/csv', etag: again.etag });
      expect(same(await read(got!.body), second)).toBe(true);
    });

    it('refuses a body shorter or longer than declared and stores nothing', async () => {
      const s = store();
      const key = keyOf('mismatch');
      await expect(s.put(key, stream(pattern(99)), { size: 100, contentType: 'text/plain' })).rejects.toThrow();
      await expect(s.put(key, stream(pattern(101)), { size: 100, contentType: 'text/plain' })).rejects.toThrow();
      expect(await s.head(key)).toBeNull();
    });

    it('keeps the previous object whole when an overwrite has the wrong size', async () => {
      const s = store();
      const key = keyOf('mismatch-overwrite');
      const original = pattern(300, 4);
      const put = await s.put(key, stream(original), { size: 300, contentType: 'text/plain' });
      await expect(s.put(key, stream(pattern(10, 5)), { size: 400, contentType: 'text/plain' })).rejects.toThrow();
      const got = await s.get(key);
      expect(got).toMatchObject({ size: 300, etag: put.etag });
      expect(same(await read(got!.body), original)).toBe(true);
    });

    it('joins multipart parts in part order into one object', async () => {
      const s = store();
      const key = keyOf('multipart');
      const p1 = pattern(PART, 11);
      const p2 = pattern(PART, 12);
      const p3 = pattern(1234, 13);
      const id = await s.createMultipart(key, 'application/x-disk');
      // Sent out of order on purpose: the part number, not the arrival, decides the place.
      const e3 = await s.uploadPart(key, id, 3, stream(p3), p3.length);
      const e1 = await s.uploadPart(key, id, 1, stream(p1), p1.length);
      const e2 = await s.uploadPart(key, id, 2, stream(p2), p2.length);
      expect(await s.head(key)).toBeNull();
      const info = await s.completeMultipart(key, id, [
        { partNumber: 2, etag: e2 },
        { partNumber: 1, etag: e1 },
        { partNumber: 3, etag: e3 },
      ]);
      expect(info).toMatchObject({ size: 2 * PART + 1234, contentType: 'application/x-disk' });
      const got = await s.get(key);
      const all = await read(got!.body);
      expect(all.length).toBe(2 * PART + 1234);
      expect(same(all.subarray(0, PART), p1)).toBe(true);
      expect(same(all.subarray(PART, 2 * PART), p2)).toBe(true);
      expect(same(all.subarray(2 * PART), p3)).toBe(true);
      const tail = await s.get(key, { offset: PART - 2, length: 4 });
      expect([...(await read(tail!.body))]).toEqual([...p1.subarray(PART - 2), ...p2.subarray(0, 2)]);
    });

    it('takes the latest upload of a re-sent part', async () => {
      const s = store();
      const key = keyOf('resend');
      const id = await s.createMultipart(key, 'text/plain');
      await s.uploadPart(key, id, 1, stream(pattern(100, 1)), 100);
      const final = pattern(100, 2);
      const etag = await s.uploadPart(key, id, 1, stream(final), 100);
      await s.completeMultipart(key, id, [{ partNumber: 1, etag }]);
      expect(same(await read((await s.get(key))!.body), final)).toBe(true);
    });

    it('refuses to complete with a part that was never uploaded', async () => {
      const s = store();
      const key = keyOf('missing-part');
      const id = await s.createMultipart(key, 'text/plain');
      const e1 = await s.uploadPart(key, id, 1, stream(pattern(PART)), PART);
      await expect(
        s.completeMultipart(key, id, [
          { partNumber: 1, etag: e1 },
          { partNumber: 2, etag: e1 },
        ]),
      ).rejects.toThrow();
      expect(await s.head(key)).toBeNull();
    });

    it('refuses a part whose body does not match its declared size', async () => {
      const s = store();
      const key = keyOf('part-size');
      const id = await s.createMultipart(key, 'text/plain');
      await expect(s.uploadPart(key, id, 1, stream(pattern(10)), 11)).rejects.toThrow();
      await s.abortMultipart(key, id);
    });

    it('drops an aborted upload: its parts cannot be added to or completed', async () => {
      const s = store();
      const key = keyOf('abort');
      const id = await s.createMultipart(key, 'text/plain');
      const e1 = await s.uploadPart(key, id, 1, stream(pattern(10)), 10);
      await s.abortMultipart(key, id);
      await expect(s.uploadPart(key, id, 2, stream(pattern(10)), 10)).rejects.toThrow();
      await expect(s.completeMultipart(key, id, [{ partNumber: 1, etag: e1 }])).rejects.toThrow();
      expect(await s.head(key)).toBeNull();
    });
  });
}
