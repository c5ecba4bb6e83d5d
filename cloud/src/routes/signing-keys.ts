import { createRoute, z } from '@hono/zod-openapi';
import { SigningKeyInfo } from '../../../shared/schemas/file.ts';
import { auditOk } from '../audit.ts';
import { assertRole } from '../auth/principal.ts';
import { rotateSigningKey } from '../boot/signing-keys.ts';
import { sql } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { errorResponses, json, router } from './openapi.ts';

const tags = ['signing-keys'];

interface KeyInfoRow {
  kid: string;
  created_at: number;
  retired_at: number | null;
}

const toInfo = (r: KeyInfoRow) => ({ kid: r.kid, createdAt: iso(r.created_at), retiredAt: iso(r.retired_at) });

/**
 * The keys signed file URLs are made with (admin only). Listing shows ids and dates, never a
 * secret. Rotation makes a new key sign; URLs already handed out keep working, because every key
 * still in the table verifies. Keys are few (one per rotation), so the list is not paged.
 */
export function signingKeyRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'URL signing keys, newest first (admin)',
        request: { query: z.strictObject({}) },
        responses: { 200: json(z.object({ items: z.array(SigningKeyInfo) }).meta({ id: 'SigningKeyList' })), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const rows = await c.get('deps').db.all<KeyInfoRow>(sql('SELECT kid, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC'));
        return c.json({ items: rows.map(toInfo) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/rotate',
        tags,
        summary: 'Sign new URLs with a new key; URLs signed before keep working (admin, audited)',
        responses: { 201: json(SigningKeyInfo, 'the new signing key'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const now = c.get('deps').clock.now();
        const kid = await rotateSigningKey(c.get('deps').db, now, (kid) => [auditOk(c, kid, null, 201)]);
        return c.json(toInfo({ kid, created_at: now, retired_at: null }), 201);
      },
    );
}
