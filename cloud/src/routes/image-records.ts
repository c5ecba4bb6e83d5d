import type { Context } from 'hono';
import { archOfBinary, sniffBinary, SNIFF_BYTES, type BinaryInfo } from '../../../shared/boot/binary-info.ts';
import { ImageBinary, type Image, type ImageArch } from '../../../shared/schemas/image.ts';
import { assertCatalogRead } from '../auth/principal.ts';
import type { AppDeps, AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';

export interface ImageRow {
  id: string;
  name: string;
  kind: Image['kind'];
  content_type: string;
  status: Image['status'];
  size: number | null;
  sha256: string | null;
  object_key: string;
  arch: ImageArch;
  /** JSON of a BinaryInfo; null until the content is stored and sniffed. */
  binary_info: string | null;
  created_at: number;
  updated_at: number;
}

/** The stored sniff, or null when there is none (or it no longer parses: sniffed again on demand). */
export function binaryOf(r: Pick<ImageRow, 'binary_info'>): BinaryInfo | null {
  if (r.binary_info === null) return null;
  try {
    const parsed = ImageBinary.safeParse(JSON.parse(r.binary_info));
    return parsed.success ? (parsed.data as BinaryInfo) : null;
  } catch {
    return null;
  }
}

/**
 * The columns that record what an image's content is: the sniff, and the arch the bytes imply (a
 * kernel or EFI binary is for its CPU whatever was set before; other files keep the arch as set).
 */
export function sniffColumns(row: Pick<ImageRow, 'arch'>, info: BinaryInfo): { arch: ImageArch; binary_info: string } {
  return { arch: archOfBinary(info) ?? row.arch, binary_info: JSON.stringify(info) };
}

/**
 * Keeps the first {@link SNIFF_BYTES} of a stream that passes through `update`, for the sniffer: an
 * upload is hashed chunk by chunk and never buffered, so its head is copied on the way.
 */
export class HeadBytes {
  private readonly buf = new Uint8Array(SNIFF_BYTES);
  private length = 0;
  update(chunk: Uint8Array): void {
    if (this.length >= SNIFF_BYTES) return;
    const n = Math.min(chunk.byteLength, SNIFF_BYTES - this.length);
    this.buf.set(chunk.subarray(0, n), this.length);
    this.length += n;
  }
  get full(): boolean {
    return this.length >= SNIFF_BYTES;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * What a ready image's content is: the recorded sniff, or, for an image stored before sniffs were
 * recorded, its first bytes read from the object store with a ranged GET (every store adapter has
 * one) and recorded now, so this happens once per image. Null when the image has no content yet.
 */
export async function loadBinaryInfo(deps: Pick<AppDeps, 'db' | 'objects'>, row: ImageRow): Promise<BinaryInfo | null> {
  const recorded = binaryOf(row);
  if (recorded) return recorded;
  if (row.status !== 'ready' || row.size === null) return null;
  const info = await sniffObject(deps.objects, row.object_key, row.size);
  if (!info) return null;
  const cols = sniffColumns(row, info);
  await deps.db.batch([sql('UPDATE images SET binary_info = ?, arch = ? WHERE id = ? AND binary_info IS NULL', cols.binary_info, cols.arch, row.id)]);
  Object.assign(row, cols);
  return info;
}

/** Sniffs a stored object from its first bytes (one ranged GET); null when the store has no such object. */
export async function sniffObject(objects: ObjectStore, key: string, size: number): Promise<BinaryInfo | null> {
  const head = new HeadBytes();
  if (size > 0) {
    const object = await objects.get(key, { offset: 0, length: Math.min(size, SNIFF_BYTES) });
    if (!object) return null;
    const reader = object.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      head.update(value);
      if (head.full) {
        // A store that ignored the range would send the whole image: stop at what the sniffer needs.
        await reader.cancel().catch(() => {});
        break;
      }
    }
  }
  return sniffBinary(head.bytes());
}

export const toImage = (r: ImageRow): Image => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  contentType: r.content_type,
  status: r.status,
  size: r.size,
  sha256: r.sha256,
  arch: r.arch,
  binary: binaryOf(r),
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

/** Images are a global catalog: every human role reads it, relays do not. */

/** The image, or 404; the caller must be allowed to read the catalog. */
export async function loadImage(c: Context<AppEnv>, id: string): Promise<ImageRow> {
  assertCatalogRead(c.get('principal')!);
  const row = await c.get('deps').db.first<ImageRow>(sql('SELECT * FROM images WHERE id = ?', id));
  if (!row) throw notFound('image');
  return row;
}

/**
 * The live multipart upload of an image, if any. An expired one is dropped on the way (its parts
 * aborted in the store, its row deleted), so an abandoned upload never blocks a new one and nothing
 * else has to sweep them.
 */
export async function openUploadId(deps: Pick<AppDeps, 'db' | 'objects' | 'clock'>, image: ImageRow): Promise<string | null> {
  const row = await deps.db.first<{ id: string; store_upload_id: string; expires_at: number }>(
    sql('SELECT id, store_upload_id, expires_at FROM image_uploads WHERE image_id = ? ORDER BY id DESC LIMIT 1', image.id),
  );
  if (!row) return null;
  if (row.expires_at > deps.clock.now()) return row.id;
  await deps.objects.abortMultipart(image.object_key, row.store_upload_id).catch(() => {
    // The store may have expired it already (S3 lifecycle rules do); the row goes either way.
  });
  await deps.db.batch([sql('DELETE FROM image_uploads WHERE id = ?', row.id)]);
  return openUploadId(deps, image);
}

/** Uploaded bytes are immutable once an image is ready: profiles and relay caches rely on its sha256. */
export function assertNotReady(row: ImageRow): void {
  if (row.status === 'ready') throw new AppError('conflict', 'the image already has its content; create a new image for new bytes');
}

