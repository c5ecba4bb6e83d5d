import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import { verifyToken } from '../../../shared/crypto/signed-url.ts';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import { signingKeys } from '../boot/signing-keys.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import type { ImageRow } from './image-records.ts';
import { assertReady, imageResponse } from './image-response.ts';
import { json, router } from './openapi.ts';

/** What a valid token can name: one image, no further segments. */
const FILE_PATH = /^\/v1\/files\/([A-Za-z0-9_-]{1,64})$/;
/** A presigned store URL outlives neither the token nor a quarter of an hour, whichever is first. */
const MAX_REDIRECT_TTL_SECONDS = 15 * 60;

const binary = { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } } };
const refusals = {
  400: json(ErrorEnvelope, 'malformed or repeated sig'),
  401: json(ErrorEnvelope, 'no sig parameter'),
  403: json(ErrorEnvelope, 'the signature does not cover this request (key, expiry, path, method) or has expired'),
  404: json(ErrorEnvelope, 'the image is gone'),
  409: json(ErrorEnvelope, 'the image has no content yet'),
  416: json(ErrorEnvelope, 'the range selects nothing'),
};

/**
 * `GET`/`HEAD /v1/files/{imageId}?sig=…`: image bytes for machines, authenticated by the signed
 * token alone (iPXE has no bearer token). The token is checked against the path exactly as it
 * arrived, so no decoding or normalisation by this app can make one URL stand for another.
 * Every method reaches the handler, so that a POST with a GET token is a 403, not a routing 404.
 *
 * No boot event is recorded here: the token names a site, not a machine, and the relay reports
 * "file fetched" with the MAC, which is what the timeline joins on.
 */
export function fileRoutes() {
  const r = router();
  for (const method of ['get', 'head'] as const) {
    r.openAPIRegistry.registerPath({
      method,
      path: '/{imageId}',
      tags: ['files'],
      summary: `${method === 'get' ? 'Download' : 'Size and ETag of'} an image through a signed URL (POST /v1/images/{id}/signed-url); Range, If-None-Match and If-Range supported`,
      security: [],
      request: { params: z.object({ imageId: z.string() }), query: z.object({ sig: z.string().meta({ description: 'the token' }) }) },
      responses: {
        200: { description: 'the whole image', ...binary },
        206: { description: 'the requested range', ...binary },
        302: { description: 'a presigned URL of the object store (deployments that opt in, S3 only; GET only)' },
        304: { description: 'If-None-Match matched' },
        ...refusals,
      },
    });
  }
  r.all('/*', serveFile);
  return r;
}

async function serveFile(c: Context<AppEnv>): Promise<Response> {
  const { db, clock, objects, redirectFilesToStore } = c.get('deps');
  const { path, query } = rawTarget(c.req.url);
  const sigs = new URLSearchParams(query).getAll('sig');
  // No credential at all is 401, as for the bearer routes; a bad one is 400 (malformed) or 403.
  if (sigs.length === 0) throw new AppError('unauthorized', 'a file URL needs its sig parameter');
  if (sigs.length > 1) throw new AppError('bad_request', 'a file URL carries exactly one sig parameter');
  const now = clock.now();
  const nowSeconds = Math.floor(now / 1000);
  const keys = await signingKeys(db, now);
  const verdict = await verifyToken(keys.all, sigs[0]!, { method: c.req.method, path }, nowSeconds);
  if (!verdict.ok) throw new AppError(verdict.status === 400 ? 'bad_request' : 'forbidden', `signed URL refused: ${verdict.reason}`);
  const m = FILE_PATH.exec(path);
  if (!m) throw new AppError('forbidden', 'signed URL refused: the path is not a file');

  const row = await db.first<ImageRow>(sql('SELECT * FROM images WHERE id = ?', m[1]!));
  if (!row) throw notFound('image');
  assertReady(row);
  if (c.req.method === 'GET' && redirectFilesToStore && objects.presignGet) {
    const ttl = Math.min(verdict.expiresAt - nowSeconds, MAX_REDIRECT_TTL_SECONDS);
    // The store answers Range itself; its ETag is its own, not the sha256 (HEAD stays here for that).
    const location = await objects.presignGet(row.object_key, ttl);
    return new Response(null, { status: 302, headers: { location, 'cache-control': 'no-store' } });
  }
  return imageResponse(c, row);
}

/**
 * Path and query as the URL carries them, without decoding: `c.req.path` is percent-decoded by
 * Hono, and a signature must cover the bytes that were sent, not an interpretation of them.
 */
function rawTarget(url: string): { path: string; query: string } {
  const start = url.indexOf('/', url.indexOf('://') + 3);
  const q = url.indexOf('?', start);
  return q === -1 ? { path: url.slice(start), query: '' } : { path: url.slice(start, q), query: url.slice(q + 1) };
}
