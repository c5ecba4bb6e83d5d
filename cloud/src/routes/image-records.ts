import type { Context } from 'hono';
import type { Image } from '../../../shared/schemas/image.ts';
import { assertCatalogRead } from '../auth/principal.ts';
import type { AppDeps, AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
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
  created_at: number;
  updated_at: number;
}

export const toImage = (r: ImageRow): Image => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  contentType: r.content_type,
  status: r.status,
  size: r.size,
  sha256: r.sha256,
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

