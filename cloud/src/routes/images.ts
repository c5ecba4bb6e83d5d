import { createRoute, z } from '@hono/zod-openapi';
import { archOfBinary, describeBinary, sniffBinary } from '../../../shared/boot/binary-info.ts';
import { Sha256 } from '../../../shared/crypto/sha256.ts';
import { newId } from '../../../shared/ids.ts';
import { Cursor, ErrorEnvelope, Limit, page } from '../../../shared/schemas/common.ts';
import { Image, ImageCreate, ImagePatch, Sha256Hex } from '../../../shared/schemas/image.ts';
import { auditOk } from '../audit.ts';
import { assertRole, assertCatalogRead } from '../auth/principal.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { imageUploadRoutes } from './image-uploads.ts';
import { assertNotReady, binaryOf, HeadBytes, loadImage, openUploadId, sniffColumns, toImage, type ImageRow } from './image-records.ts';
import { assertReady, imageResponse } from './image-response.ts';
import { imageSignedUrlRoutes } from './image-signed-url.ts';
import { body, errorResponses, IdParams, json, router, keysetPage } from './openapi.ts';
import { hashedBody, uploadLength } from './upload-body.ts';

const tags = ['images'];

const binary = { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } } };

export function imageRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List images',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional() }) },
        responses: { 200: json(page(Image, 'ImagePage')), ...errorResponses },
      }),
      async (c) => {
        assertCatalogRead(c.get('principal')!);
        const { limit, cursor } = c.req.valid('query');
        const rows = await c.get('deps').db.all<ImageRow>(sql('SELECT * FROM images WHERE id > ? ORDER BY id LIMIT ?', cursor ?? '', limit + 1));
        return c.json(keysetPage(rows, limit, toImage), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Create an image record (admin); its bytes follow with PUT …/content or a multipart upload',
        request: { body: body(ImageCreate) },
        responses: { 201: json(Image, 'created'), 409: json(ErrorEnvelope, 'name taken'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        if (await db.first(sql('SELECT id FROM images WHERE name = ?', input.name))) throw new AppError('conflict', `an image named "${input.name}" exists`);
        const now = clock.now();
        const id = newId('image', now);
        const row: ImageRow = {
          id,
          name: input.name,
          kind: input.kind,
          content_type: input.contentType,
          status: 'pending',
          size: null,
          sha256: null,
          object_key: `images/${id}`,
          arch: input.arch ?? 'any',
          binary_info: null,
          created_at: now,
          updated_at: now,
        };
        await db.batch([
          sql(
            'INSERT INTO images (id, name, kind, content_type, status, size, sha256, object_key, arch, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)',
            row.id,
            row.name,
            row.kind,
            row.content_type,
            row.status,
            row.object_key,
            row.arch,
            row.created_at,
            row.updated_at,
          ),
          auditOk(c, id, null, 201),
        ]);
        return c.json(toImage(row), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One image',
        request: { params: IdParams },
        responses: { 200: json(Image), ...errorResponses },
      }),
      async (c) => c.json(toImage(await loadImage(c, c.req.valid('param').id)), 200),
    )
    .openapi(
      createRoute({
        method: 'patch',
        path: '/{id}',
        tags,
        summary: 'Rename an image or set its arch (admin); its bytes never change',
        request: { params: IdParams, body: body(ImagePatch) },
        responses: { 200: json(Image), 409: json(ErrorEnvelope, 'name taken'), ...errorResponses },
      }),
      async (c) => {
        const row = await loadImage(c, c.req.valid('param').id);
        assertRole(c.get('principal')!, 'admin');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        if (input.name !== undefined && input.name !== row.name) {
          if (await db.first(sql('SELECT id FROM images WHERE name = ?', input.name))) throw new AppError('conflict', `an image named "${input.name}" exists`);
        }
        const info = binaryOf(row);
        const cpu = info ? archOfBinary(info) : null;
        if (input.arch !== undefined && cpu !== null && input.arch !== cpu) {
          const message = `the image is an ${describeBinary(info!)}: its arch is ${cpu}, not ${input.arch}`;
          throw new AppError('validation_failed', `arch: ${message}`, { issues: [{ path: 'arch', message }] });
        }
        const next: ImageRow = { ...row, name: input.name ?? row.name, arch: input.arch ?? row.arch, updated_at: clock.now() };
        await db.batch([sql('UPDATE images SET name = ?, arch = ?, updated_at = ? WHERE id = ?', next.name, next.arch, next.updated_at, row.id), auditOk(c, row.id, null)]);
        return c.json(toImage(next), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Delete an image no profile uses (admin)',
        request: { params: IdParams },
        responses: { 204: { description: 'deleted' }, 409: json(ErrorEnvelope, 'a profile uses the image'), ...errorResponses },
      }),
      async (c) => {
        const row = await loadImage(c, c.req.valid('param').id);
        assertRole(c.get('principal')!, 'admin');
        const { db, objects } = c.get('deps');
        // Profile specs are JSON naming images by id; ids are unique random strings, so a substring
        // match cannot hit anything but a reference.
        const user = await db.first<{ id: string; name: string }>(sql('SELECT id, name FROM profiles WHERE instr(spec, ?) > 0 LIMIT 1', row.id));
        if (user) throw new AppError('conflict', `profile "${user.name}" (${user.id}) uses this image; change or delete it first`);
        const uploads = await db.all<{ id: string; store_upload_id: string }>(sql('SELECT id, store_upload_id FROM image_uploads WHERE image_id = ?', row.id));
        await db.batch([
          sql('DELETE FROM image_upload_parts WHERE upload_id IN (SELECT id FROM image_uploads WHERE image_id = ?)', row.id),
          sql('DELETE FROM image_uploads WHERE image_id = ?', row.id),
          sql('DELETE FROM images WHERE id = ?', row.id),
          auditOk(c, row.id, null, 204),
        ]);
        // Bytes go after the record: a failure here leaves an orphan object, never a record without bytes.
        for (const u of uploads) await objects.abortMultipart(row.object_key, u.store_upload_id).catch(() => {});
        await objects.delete(row.object_key);
        return c.body(null, 204);
      },
    )
    .openapi(
      createRoute({
        method: 'put',
        path: '/{id}/content',
        tags,
        summary: 'Upload the bytes in one streamed request (admin; up to the per-request limit, else use a multipart upload)',
        request: {
          params: IdParams,
          query: z.strictObject({ sha256: Sha256Hex.optional().meta({ description: 'refuse the upload unless the bytes have this SHA-256' }) }),
          headers: z.object({ 'x-expected-sha256': Sha256Hex.optional() }),
          body: binary,
        },
        responses: {
          200: json(Image, 'stored; size and sha256 computed while streaming'),
          409: json(ErrorEnvelope, 'the image already has content, or a multipart upload is open'),
          411: json(ErrorEnvelope, 'no Content-Length'),
          413: json(ErrorEnvelope, 'over the per-request limit'),
          422: json(ErrorEnvelope, 'the bytes do not have the expected SHA-256'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const row = await loadImage(c, c.req.valid('param').id);
        assertRole(c.get('principal')!, 'admin');
        const { db, objects, clock } = c.get('deps');
        assertNotReady(row);
        const open = await openUploadId(c.get('deps'), row);
        if (open) throw new AppError('conflict', `multipart upload ${open} is open for this image; complete or abort it first`);
        const q = c.req.valid('query').sha256;
        const h = c.req.valid('header')['x-expected-sha256'];
        if (q && h && q !== h) throw new AppError('bad_request', 'the sha256 query parameter and the x-expected-sha256 header disagree');
        const expected = q ?? h ?? null;
        const size = uploadLength(c);
        const hash = new Sha256();
        const head = new HeadBytes();
        await hashedBody(c, size, hash, (stream) => objects.put(row.object_key, stream, { size, contentType: row.content_type }), head);
        const sha256 = hash.digestHex();
        if (expected && sha256 !== expected) {
          await objects.delete(row.object_key);
          throw new AppError('checksum_mismatch', `the bytes have SHA-256 ${sha256}, not the expected ${expected}; nothing was kept`);
        }
        const now = clock.now();
        const cols = sniffColumns(row, sniffBinary(head.bytes()));
        await db.batch([
          sql("UPDATE images SET status = 'ready', size = ?, sha256 = ?, arch = ?, binary_info = ?, updated_at = ? WHERE id = ?", size, sha256, cols.arch, cols.binary_info, now, row.id),
          auditOk(c, row.id, null),
        ]);
        return c.json(toImage({ ...row, status: 'ready', size, sha256, ...cols, updated_at: now }), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/content',
        tags,
        summary: 'Download the bytes (admin); HEAD and single byte ranges supported',
        request: { params: IdParams },
        responses: {
          200: { description: 'the whole image', ...binary },
          206: { description: 'the requested range', ...binary },
          304: { description: 'If-None-Match matched' },
          409: json(ErrorEnvelope, 'the image has no content yet'),
          416: json(ErrorEnvelope, 'the range selects nothing'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const row = await loadImage(c, c.req.valid('param').id);
        assertRole(c.get('principal')!, 'admin');
        assertReady(row);
        return imageResponse(c, row);
      },
    )
    .route('/', imageUploadRoutes())
    .route('/', imageSignedUrlRoutes());
}
