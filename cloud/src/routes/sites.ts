import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { Cursor, ErrorEnvelope, Limit, page } from '../../../shared/schemas/common.ts';
import { Site, SiteCreate, SitePatch } from '../../../shared/schemas/site.ts';
import { auditOk } from '../audit.ts';
import { assertRead, assertRole, assertWrite, siteScope } from '../auth/principal.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { body, errorResponses, IdParams, json, router, keysetPage } from './openapi.ts';

interface SiteRow {
  id: string;
  name: string;
  description: string;
  default_profile_id: string | null;
  created_at: number;
  updated_at: number;
}

const toSite = (r: SiteRow): Site => ({
  id: r.id,
  name: r.name,
  description: r.description,
  defaultProfileId: r.default_profile_id,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export async function getSiteRow(db: SqlDatabase, id: string): Promise<SiteRow | null> {
  return db.first<SiteRow>(sql('SELECT * FROM sites WHERE id = ?', id));
}

async function assertProfileExists(db: SqlDatabase, id: string | null | undefined): Promise<void> {
  if (id === null || id === undefined) return;
  const row = await db.first(sql('SELECT id FROM profiles WHERE id = ?', id));
  if (!row) throw new AppError('validation_failed', 'defaultProfileId names no profile', { issues: [{ path: 'defaultProfileId', message: 'no such profile' }] });
}

async function assertNameFree(db: SqlDatabase, name: string, exceptId?: string): Promise<void> {
  const row = await db.first<{ id: string }>(sql('SELECT id FROM sites WHERE name = ?', name));
  if (row && row.id !== exceptId) throw new AppError('conflict', `a site named "${name}" exists`);
}

const tags = ['sites'];

export function siteRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List the sites the token can see',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional() }) },
        responses: { 200: json(page(Site, 'SitePage')), ...errorResponses },
      }),
      async (c) => {
        const { limit, cursor } = c.req.valid('query');
        const scope = siteScope(c.get('principal')!, 'id');
        const rows = await c.get('deps').db.all<SiteRow>(
          sql(`SELECT * FROM sites WHERE ${scope.clause} AND id > ? ORDER BY id LIMIT ?`, ...scope.params, cursor ?? '', limit + 1),
        );
        return c.json(keysetPage(rows, limit, toSite), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Create a site (admin)',
        request: { body: body(SiteCreate) },
        responses: { 201: json(Site, 'created'), 409: json(ErrorEnvelope, 'name taken'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        await assertNameFree(db, input.name);
        await assertProfileExists(db, input.defaultProfileId);
        const now = clock.now();
        const row: SiteRow = {
          id: newId('site', now),
          name: input.name,
          description: input.description ?? '',
          default_profile_id: input.defaultProfileId ?? null,
          created_at: now,
          updated_at: now,
        };
        await db.batch([
          sql(
            'INSERT INTO sites (id, name, description, default_profile_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
            row.id,
            row.name,
            row.description,
            row.default_profile_id,
            row.created_at,
            row.updated_at,
          ),
          auditOk(c, row.id, row.id, 201),
        ]);
        return c.json(toSite(row), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One site',
        request: { params: IdParams },
        responses: { 200: json(Site), ...errorResponses },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const row = await getSiteRow(c.get('deps').db, id);
        if (!row) throw notFound('site');
        assertRead(c.get('principal')!, row.id, 'site');
        return c.json(toSite(row), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch',
        path: '/{id}',
        tags,
        summary: "Change a site's name, description or default for unknown machines",
        request: { params: IdParams, body: body(SitePatch) },
        responses: { 200: json(Site), ...errorResponses },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const row = await getSiteRow(db, id);
        if (!row) throw notFound('site');
        assertWrite(c.get('principal')!, row.id, 'site');
        if (input.name !== undefined) await assertNameFree(db, input.name, id);
        await assertProfileExists(db, input.defaultProfileId);
        const next: SiteRow = {
          ...row,
          name: input.name ?? row.name,
          description: input.description ?? row.description,
          default_profile_id: input.defaultProfileId === undefined ? row.default_profile_id : input.defaultProfileId,
          updated_at: clock.now(),
        };
        await db.batch([
          sql(
            'UPDATE sites SET name = ?, description = ?, default_profile_id = ?, updated_at = ? WHERE id = ?',
            next.name,
            next.description,
            next.default_profile_id,
            next.updated_at,
            id,
          ),
          auditOk(c, id, id),
        ]);
        return c.json(toSite(next), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Delete an empty site (admin)',
        request: { params: IdParams },
        responses: { 204: { description: 'deleted' }, 409: json(ErrorEnvelope, 'site still has machines or relays'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const { id } = c.req.valid('param');
        const { db } = c.get('deps');
        if (!(await getSiteRow(db, id))) throw notFound('site');
        const used = await db.first<{ n: number }>(
          sql('SELECT (SELECT count(*) FROM machines WHERE site_id = ?) + (SELECT count(*) FROM relays WHERE site_id = ? AND revoked_at IS NULL) AS n', id, id),
        );
        if (used && used.n > 0) throw new AppError('conflict', 'the site still has machines or relays; move or delete them first');
        await db.batch([sql('DELETE FROM relays WHERE site_id = ?', id), sql('DELETE FROM sites WHERE id = ?', id), auditOk(c, id, id, 204)]);
        return c.body(null, 204);
      },
    );
}
