import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Sha256 } from '../../../shared/crypto/sha256.ts';
import { newId } from '../../../shared/ids.ts';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import { Image, ImageUpload, ImageUploadCreate, MAX_PARTS } from '../../../shared/schemas/image.ts';
import { auditOk } from '../audit.ts';
import { assertRole } from '../auth/principal.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { assertNotReady, loadImage, openUploadId, sniffColumns, sniffObject, toImage, type ImageRow } from './image-records.ts';
import { errorResponses, json, body, router } from './openapi.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, hashedBody, uploadLength } from './upload-body.ts';

/** An unfinished upload is refused after a week; its parts stay in the store until it is aborted. */
const UPLOAD_LIFETIME_MS = 7 * 86_400_000;

interface UploadRow {
  id: string;
  image_id: string;
  store_upload_id: string;
  size: number;
  part_size: number;
  expected_sha256: string | null;
  created_at: number;
  expires_at: number;
}

interface PartRow {
  part_number: number;
  etag: string;
  size: number;
  hash_state: string;
}

const partCount = (u: UploadRow): number => Math.ceil(u.size / u.part_size);
/** Every part but the last is exactly partSize; the last holds the rest. */
const partLength = (u: UploadRow, n: number): number => (n < partCount(u) ? u.part_size : u.size - u.part_size * (partCount(u) - 1));

const toUpload = (u: UploadRow, partsDone: number): ImageUpload => {
  const count = partCount(u);
  return {
    id: u.id,
    imageId: u.image_id,
    size: u.size,
    partSize: u.part_size,
    partCount: count,
    expectedSha256: u.expected_sha256,
    partsDone,
    bytesDone: Math.min(u.size, partsDone * u.part_size),
    nextPart: partsDone < count ? partsDone + 1 : null,
    createdAt: iso(u.created_at),
    expiresAt: iso(u.expires_at),
  };
};

const UploadParams = z.object({ id: z.string().min(1).max(64), uploadId: z.string().min(1).max(64) });
const PartParams = UploadParams.extend({
  n: z.coerce.number().int().min(1).max(MAX_PARTS).meta({ description: 'part number, from 1' }),
});

async function loadUpload(c: Context<AppEnv>, imageId: string, uploadId: string): Promise<{ image: ImageRow; upload: UploadRow; parts: PartRow[] }> {
  const image = await loadImage(c, imageId);
  const { db } = c.get('deps');
  const upload = await db.first<UploadRow>(sql('SELECT * FROM image_uploads WHERE id = ? AND image_id = ?', uploadId, imageId));
  if (!upload) throw notFound('upload');
  const parts = await db.all<PartRow>(sql('SELECT part_number, etag, size, hash_state FROM image_upload_parts WHERE upload_id = ? ORDER BY part_number', uploadId));
  return { image, upload, parts };
}

function assertWritable(c: Context<AppEnv>, upload: UploadRow): void {
  assertRole(c.get('principal')!, 'admin');
  if (upload.expires_at <= c.get('deps').clock.now()) throw new AppError('gone', 'the upload expired; abort it and start a new one');
}

const tags = ['images'];

/**
 * Multipart image uploads. Parts go up in order, each in its own request, so that no request body
 * is larger than a part and the image's SHA-256 is computed while streaming: part n resumes the hash
 * from the midstate stored after part n-1 (possibly in another isolate).
 */
export function imageUploadRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'post',
        path: '/{id}/uploads',
        tags,
        summary: 'Start a multipart upload (admin): parts of partSize bytes, sent in order',
        request: { params: z.object({ id: z.string().min(1).max(64) }), body: body(ImageUploadCreate) },
        responses: { 201: json(ImageUpload, 'started'), 409: json(ErrorEnvelope, 'the image has content or an open upload'), ...errorResponses },
      }),
      async (c) => {
        const image = await loadImage(c, c.req.valid('param').id);
        assertRole(c.get('principal')!, 'admin');
        const input = c.req.valid('json');
        const { db, objects, clock } = c.get('deps');
        assertNotReady(image);
        const open = await openUploadId(c.get('deps'), image);
        if (open) throw new AppError('conflict', `multipart upload ${open} is already open for this image; resume it (GET …/uploads/${open}) or abort it`);
        const max = c.get('deps').maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
        if (input.partSize > max && input.size > input.partSize) {
          throw new AppError('validation_failed', `partSize is over this deployment's ${max}-byte limit per request`, {
            issues: [{ path: 'partSize', message: `at most ${max}` }],
          });
        }
        const now = clock.now();
        const storeUploadId = await objects.createMultipart(image.object_key, image.content_type);
        const upload: UploadRow = {
          id: newId('upload', now),
          image_id: image.id,
          store_upload_id: storeUploadId,
          size: input.size,
          part_size: input.partSize,
          expected_sha256: input.expectedSha256 ?? null,
          created_at: now,
          expires_at: now + UPLOAD_LIFETIME_MS,
        };
        await db.batch([
          sql(
            'INSERT INTO image_uploads (id, image_id, store_upload_id, size, part_size, expected_sha256, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            upload.id,
            upload.image_id,
            upload.store_upload_id,
            upload.size,
            upload.part_size,
            upload.expected_sha256,
            upload.created_at,
            upload.expires_at,
          ),
          sql("UPDATE images SET status = 'uploading', updated_at = ? WHERE id = ?", now, image.id),
          auditOk(c, image.id, null, 201),
        ]);
        return c.json(toUpload(upload, 0), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/uploads/{uploadId}',
        tags,
        summary: 'Where an upload stands: the parts stored and the one to send next (to resume)',
        request: { params: UploadParams },
        responses: { 200: json(ImageUpload), ...errorResponses },
      }),
      async (c) => {
        const { id, uploadId } = c.req.valid('param');
        const { upload, parts } = await loadUpload(c, id, uploadId);
        return c.json(toUpload(upload, parts.length), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'put',
        path: '/{id}/uploads/{uploadId}/parts/{n}',
        tags,
        summary: 'Send part n (admin): the next part, or the last stored one again to retry it',
        request: {
          params: PartParams,
          body: { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } } },
        },
        responses: {
          200: json(ImageUpload, 'part stored'),
          409: json(ErrorEnvelope, 'part_out_of_order: an earlier part is missing, or a later one is already stored'),
          410: json(ErrorEnvelope, 'the upload expired'),
          411: json(ErrorEnvelope, 'no Content-Length'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const { id, uploadId, n } = c.req.valid('param');
        const { image, upload, parts } = await loadUpload(c, id, uploadId);
        assertWritable(c, upload);
        const count = partCount(upload);
        if (n > count) throw new AppError('validation_failed', `the upload has ${count} parts`, { issues: [{ path: 'n', message: `at most ${count}` }] });
        const done = parts.length;
        if (n > done + 1) throw new AppError('part_out_of_order', `part ${n} needs part ${n - 1} first; send part ${done + 1} next`);
        if (n < done) throw new AppError('part_out_of_order', `part ${n} is followed by stored parts; only part ${done} can be sent again`);
        const expectedLength = partLength(upload, n);
        const size = uploadLength(c);
        if (size !== expectedLength) throw new AppError('size_mismatch', `part ${n} must be ${expectedLength} bytes, not ${size}`);
        const hash = n === 1 ? new Sha256() : Sha256.restore(parts[n - 2]!.hash_state);
        const etag = await hashedBody(c, size, hash, (stream) => c.get('deps').objects.uploadPart(image.object_key, upload.store_upload_id, n, stream, size));
        await c.get('deps').db.batch([
          sql(
            'INSERT OR REPLACE INTO image_upload_parts (upload_id, part_number, etag, size, hash_state) VALUES (?, ?, ?, ?, ?)',
            upload.id,
            n,
            etag,
            size,
            hash.exportState(),
          ),
          auditOk(c, image.id, null),
        ]);
        return c.json(toUpload(upload, Math.max(done, n)), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/{id}/uploads/{uploadId}/complete',
        tags,
        summary: 'Join the parts into the image (admin): checks every part and the expected SHA-256',
        request: { params: UploadParams },
        responses: {
          200: json(Image, 'the image, ready'),
          409: json(ErrorEnvelope, 'parts are missing'),
          422: json(ErrorEnvelope, 'the bytes do not have the expected SHA-256; the upload is dropped'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const { id, uploadId } = c.req.valid('param');
        const { image, upload, parts } = await loadUpload(c, id, uploadId);
        assertWritable(c, upload);
        const { db, objects, clock } = c.get('deps');
        const count = partCount(upload);
        if (parts.length !== count) throw new AppError('conflict', `${parts.length} of ${count} parts are stored; send part ${parts.length + 1} next`);
        const stored = parts.reduce((sum, p) => sum + p.size, 0);
        if (stored !== upload.size) throw new AppError('conflict', `the parts hold ${stored} bytes, the upload declared ${upload.size}`);
        const sha256 = Sha256.restore(parts[count - 1]!.hash_state).digestHex();
        const now = clock.now();
        const dropUpload = [
          sql('DELETE FROM image_upload_parts WHERE upload_id = ?', upload.id),
          sql('DELETE FROM image_uploads WHERE id = ?', upload.id),
        ];
        if (upload.expected_sha256 && sha256 !== upload.expected_sha256) {
          await objects.abortMultipart(image.object_key, upload.store_upload_id);
          await db.batch([...dropUpload, sql("UPDATE images SET status = 'pending', updated_at = ? WHERE id = ?", now, image.id)]);
          throw new AppError('checksum_mismatch', `the bytes have SHA-256 ${sha256}, not the expected ${upload.expected_sha256}; the upload was dropped`);
        }
        await objects.completeMultipart(
          image.object_key,
          upload.store_upload_id,
          parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
        );
        // Part 1 may have gone through another isolate days ago: its first bytes are read back from
        // the store (one ranged GET of a few KiB) rather than carried between requests.
        const info = await sniffObject(objects, image.object_key, upload.size);
        const cols = info ? sniffColumns(image, info) : { arch: image.arch, binary_info: null };
        await db.batch([
          ...dropUpload,
          sql(
            "UPDATE images SET status = 'ready', size = ?, sha256 = ?, arch = ?, binary_info = ?, updated_at = ? WHERE id = ?",
            upload.size,
            sha256,
            cols.arch,
            cols.binary_info,
            now,
            image.id,
          ),
          auditOk(c, image.id, null),
        ]);
        return c.json(toImage({ ...image, status: 'ready', size: upload.size, sha256, ...cols, updated_at: now }), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}/uploads/{uploadId}',
        tags,
        summary: 'Abort an upload (admin): its parts are dropped and the image is pending again',
        request: { params: UploadParams },
        responses: { 204: { description: 'aborted' }, ...errorResponses },
      }),
      async (c) => {
        const { id, uploadId } = c.req.valid('param');
        const { image, upload } = await loadUpload(c, id, uploadId);
        assertRole(c.get('principal')!, 'admin');
        const { db, objects, clock } = c.get('deps');
        await objects.abortMultipart(image.object_key, upload.store_upload_id);
        await db.batch([
          sql('DELETE FROM image_upload_parts WHERE upload_id = ?', upload.id),
          sql('DELETE FROM image_uploads WHERE id = ?', upload.id),
          sql("UPDATE images SET status = 'pending', updated_at = ? WHERE id = ? AND status = 'uploading'", clock.now(), image.id),
          auditOk(c, image.id, null, 204),
        ]);
        return c.body(null, 204);
      },
    );
}
