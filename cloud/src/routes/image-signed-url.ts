import { createRoute } from '@hono/zod-openapi';
import { SignedUrl, SignedUrlCreate } from '../../../shared/schemas/file.ts';
import { assertRole } from '../auth/principal.ts';
import { fileUrl } from '../boot/file-urls.ts';
import { iso } from '../time.ts';
import { loadImage } from './image-records.ts';
import { assertSiteRef } from './refs.ts';
import { body, errorResponses, IdParams, json, router } from './openapi.ts';

/**
 * `POST /v1/images/{id}/signed-url`: the same signed `/v1/files` URL a boot script carries, for an
 * operator to hand to a machine by other means (or for tests, which cannot read the keys). Admin
 * only: the URL is a bearer credential for the bytes. Not a database change; recorded by auditRest.
 */
export function imageSignedUrlRoutes() {
  return router().openapi(
    createRoute({
      method: 'post',
      path: '/{id}/signed-url',
      tags: ['images'],
      summary: 'A signed, expiring URL of the image bytes for a site (admin); works with no bearer token',
      request: { params: IdParams, body: body(SignedUrlCreate) },
      // Any image may be signed: the URL answers 409 until the bytes are there.
      responses: { 200: json(SignedUrl), ...errorResponses },
    }),
    async (c) => {
      const row = await loadImage(c, c.req.valid('param').id);
      const principal = c.get('principal')!;
      assertRole(principal, 'admin');
      const { siteId, ttlSeconds } = c.req.valid('json');
      const { db, clock } = c.get('deps');
      await assertSiteRef(db, principal, siteId, 'siteId');
      const nowSec = Math.floor(clock.now() / 1000);
      const url = await fileUrl({ db }, { base: new URL(c.req.url).origin, imageId: row.id, siteId, nowSec, ttlSeconds });
      return c.json({ url, expiresAt: iso((nowSec + ttlSeconds) * 1000) }, 200);
    },
  );
}
