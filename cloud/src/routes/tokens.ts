import { createRoute, z } from '@hono/zod-openapi';
import { Cursor, Limit, page } from '../../../shared/schemas/common.ts';
import { Token, TokenCreate, TokenCreated } from '../../../shared/schemas/access.ts';
import { auditOk } from '../audit.ts';
import { issueToken, type TokenRow } from '../auth/issue-token.ts';
import { assertRole } from '../auth/principal.ts';
import { invalidRef } from './refs.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { body, errorResponses, IdParams, json, keysetPage, router } from './openapi.ts';

const COLUMNS = 'id, name, role, site_ids, relay_id, prefix, created_by, created_at, expires_at, revoked_at, last_used_at';

export const toToken = (r: TokenRow): Token => ({
  id: r.id,
  name: r.name,
  role: r.role,
  siteIds: r.site_ids === null ? null : (JSON.parse(r.site_ids) as string[]),
  relayId: r.relay_id,
  prefix: r.prefix,
  createdAt: iso(r.created_at),
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});

/** Operators need sites to act on; admins are never limited; every named site must exist. */
async function checkSites(db: SqlDatabase, role: Token['role'], siteIds: string[] | undefined): Promise<string[] | null> {
  if (siteIds === undefined) {
    if (role === 'operator') throw invalidRef('siteIds', 'an operator token needs siteIds');
    return null;
  }
  if (role === 'admin') throw invalidRef('siteIds', 'admin tokens are not limited to sites; leave siteIds out');
  const wanted = [...new Set(siteIds)];
  const found = await db.all<{ id: string }>(sql('SELECT id FROM sites WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(wanted)));
  const known = new Set(found.map((r) => r.id));
  const missing = wanted.filter((id) => !known.has(id));
  if (missing.length > 0) throw invalidRef('siteIds', `no such site: ${missing.slice(0, 5).join(', ')}`);
  return wanted;
}

const tags = ['tokens'];

/** Bearer tokens for people and scripts (admin only). Relay tokens come from enrollment instead. */
export function tokenRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List tokens, relay tokens included (admin)',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional() }) },
        responses: { 200: json(page(Token, 'TokenPage')), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const { limit, cursor } = c.req.valid('query');
        const rows = await c.get('deps').db.all<TokenRow>(sql(`SELECT ${COLUMNS} FROM tokens WHERE id > ? ORDER BY id LIMIT ?`, cursor ?? '', limit + 1));
        return c.json(keysetPage(rows, limit, toToken), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Create a token; its secret is in this response only (admin)',
        request: { body: body(TokenCreate) },
        responses: { 201: json(TokenCreated, 'created'), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        assertRole(p, 'admin');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const siteIds = await checkSites(db, input.role, input.siteIds);
        const now = clock.now();
        const expiresAt = input.expiresInSeconds === undefined ? null : now + input.expiresInSeconds * 1000;
        const { secret, row, insert } = await issueToken({ name: input.name, role: input.role, siteIds, createdBy: p.tokenId, expiresAt }, now);
        await db.batch([insert, auditOk(c, row.id, null, 201)]);
        return c.json({ ...toToken(row), token: secret }, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One token, without its secret (admin)',
        request: { params: IdParams },
        responses: { 200: json(Token), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const row = await c.get('deps').db.first<TokenRow>(sql(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`, c.req.valid('param').id));
        if (!row) throw notFound('token');
        return c.json(toToken(row), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Revoke a token; it is refused from then on (admin)',
        request: { params: IdParams },
        responses: { 204: { description: 'revoked' }, ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const { id } = c.req.valid('param');
        const { db, clock } = c.get('deps');
        if (!(await db.first(sql('SELECT id FROM tokens WHERE id = ?', id)))) throw notFound('token');
        // Revoking twice keeps the first time: that is when the credential stopped working.
        await db.batch([sql('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', clock.now(), id), auditOk(c, id, null, 204)]);
        c.get('principals').clear();
        return c.body(null, 204);
      },
    );
}
