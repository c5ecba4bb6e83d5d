import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { Cursor, ErrorEnvelope, Limit, page } from '../../../shared/schemas/common.ts';
import { DISK_FORMATS } from '../../../shared/schemas/imaging.ts';
import { Profile, ProfileCreate, ProfilePatch, type ProfileKind, type ProfileSpec } from '../../../shared/schemas/profile.ts';
import { auditOk } from '../audit.ts';
import { assertRole, type Principal, assertCatalogRead } from '../auth/principal.ts';
import { AppError, notFound, type Issue } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { body, errorResponses, IdParams, json, router, keysetPage } from './openapi.ts';

/*
 * Profiles are a global catalog: every human role reads them, only admins change them (relay
 * tokens are kept off these routes by auth/confine.ts, and refused here as well).
 */

interface ProfileRow {
  id: string;
  name: string;
  description: string;
  kind: ProfileKind;
  spec: string;
  created_at: number;
  updated_at: number;
}

const toProfile = (r: ProfileRow): Profile => ({
  id: r.id,
  name: r.name,
  description: r.description,
  spec: JSON.parse(r.spec) as ProfileSpec,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

const KINDS = ['linux', 'ipxe', 'local', 'menu', 'wimboot', 'imaging'] as const satisfies readonly ProfileKind[];


/** The image ids a spec points at, with the body path of each (for the 400's issues). */
function imageRefs(spec: ProfileSpec): [path: string, id: string][] {
  switch (spec.kind) {
    case 'linux':
      return [['spec.kernel', spec.kernel], ...spec.initrds.map((id, i): [string, string] => [`spec.initrds.${i}`, id])];
    case 'wimboot':
      return (['wimboot', 'bcd', 'bootSdi', 'bootWim'] as const).map((k): [string, string] => [`spec.${k}`, spec[k]]);
    case 'imaging':
      return [
        ['spec.kernel', spec.kernel],
        ...spec.initrds.map((id, i): [string, string] => [`spec.initrds.${i}`, id]),
        ['spec.diskImage', spec.diskImage],
      ];
    default:
      return [];
  }
}

/** Ids of `ids` that exist in `table`, in one query whatever their number (one bound parameter). */
async function existing(db: SqlDatabase, table: 'images' | 'profiles', ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.all<{ id: string }>(sql(`SELECT id FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify([...new Set(ids)])));
  return new Set(rows.map((r) => r.id));
}

/**
 * The menu path from `from` back to `self`, if the menus reachable from `from` lead there. Menus
 * are rendered by following items, so a cycle would be a menu that contains itself.
 */
function pathBack(self: string, from: string, itemsOf: Map<string, string[]>): string[] | null {
  const seen = new Set<string>();
  const walk = (id: string): string[] | null => {
    if (id === self) return [id];
    if (seen.has(id)) return null;
    seen.add(id);
    for (const next of itemsOf.get(id) ?? []) {
      const rest = walk(next);
      if (rest) return [id, ...rest];
    }
    return null;
  };
  return walk(from);
}

/**
 * Every reference in `spec` must resolve: images for linux/wimboot/imaging, profiles for menu
 * items, without a cycle of menus through `selfId` (null on create: a new id cannot be referenced
 * yet, so no cycle can run through it). All bad fields are reported at once.
 */
async function validateSpec(db: SqlDatabase, spec: ProfileSpec, selfId: string | null): Promise<void> {
  const issues: Issue[] = [];
  const images = imageRefs(spec);
  const foundImages = await existing(
    db,
    'images',
    images.map(([, id]) => id),
  );
  for (const [path, id] of images) if (!foundImages.has(id)) issues.push({ path, message: `no such image: ${id}` });
  if (spec.kind === 'imaging' && foundImages.has(spec.diskImage)) {
    // The imager writes raw images, gzip- or zstd-compressed; anything else would fail on the machine.
    const disk = await db.first<{ kind: string }>(sql('SELECT kind FROM images WHERE id = ?', spec.diskImage));
    if (disk && !(disk.kind in DISK_FORMATS)) issues.push({ path: 'spec.diskImage', message: `image ${spec.diskImage} is of kind ${disk.kind}; the imager writes disk-raw, disk-gz or disk-zst` });
  }

  if (spec.kind === 'menu') {
    const targets = spec.items.map((i) => i.profileId);
    const foundProfiles = await existing(db, 'profiles', targets);
    spec.items.forEach((item, i) => {
      if (!foundProfiles.has(item.profileId)) issues.push({ path: `spec.items.${i}.profileId`, message: `no such profile: ${item.profileId}` });
    });
    if (spec.defaultItem !== null && spec.defaultItem >= spec.items.length) {
      issues.push({ path: 'spec.defaultItem', message: `there are ${spec.items.length} items` });
    }
    if (selfId !== null) {
      const menus = await db.all<{ id: string; spec: string }>(sql("SELECT id, spec FROM profiles WHERE kind = 'menu'"));
      const itemsOf = new Map(menus.map((m) => [m.id, (JSON.parse(m.spec) as { items: { profileId: string }[] }).items.map((i) => i.profileId)]));
      itemsOf.set(selfId, targets);
      spec.items.forEach((item, i) => {
        const back = pathBack(selfId, item.profileId, itemsOf);
        if (back) issues.push({ path: `spec.items.${i}.profileId`, message: `makes a cycle of menus: ${[selfId, ...back].join(' → ')}` });
      });
    }
  }
  if (issues.length > 0) throw new AppError('validation_failed', `invalid spec: ${issues[0]!.path}: ${issues[0]!.message}`, { issues });
}

async function assertNameFree(db: SqlDatabase, name: string, exceptId?: string): Promise<void> {
  const row = await db.first<{ id: string }>(sql('SELECT id FROM profiles WHERE name = ?', name));
  if (row && row.id !== exceptId) throw new AppError('conflict', `a profile named "${name}" exists`);
}

/** What still points at a profile: deleting it would leave them dangling or silently changed. */
async function referencesTo(db: SqlDatabase, id: string): Promise<string[]> {
  const r = await db.first<{ assignments: number; sites: number; menus: number }>(
    sql(
      `SELECT (SELECT count(*) FROM assignments WHERE profile_id = ?1) AS assignments,
              (SELECT count(*) FROM sites WHERE default_profile_id = ?1) AS sites,
              (SELECT count(DISTINCT p.id) FROM profiles p, json_each(p.spec, '$.items') j
                 WHERE p.kind = 'menu' AND json_extract(j.value, '$.profileId') = ?1) AS menus`,
      id,
    ),
  );
  const out: string[] = [];
  if (r?.assignments) out.push(`${r.assignments} assignment(s)`);
  if (r?.sites) out.push(`${r.sites} site default(s)`);
  if (r?.menus) out.push(`${r.menus} menu(s)`);
  return out;
}

/**
 * Profiles that point at an image, for the image routes: deleting an image a profile boots would
 * break that profile at boot time instead of at the API.
 */
export async function profilesUsingImage(db: SqlDatabase, imageId: string): Promise<string[]> {
  const rows = await db.all<{ id: string }>(
    sql(
      `SELECT DISTINCT p.id FROM profiles p, json_tree(p.spec) j
        WHERE p.kind IN ('linux', 'wimboot', 'imaging') AND j.atom = ?
          AND ((j.path = '$' AND j.key IN ('kernel', 'wimboot', 'bcd', 'bootSdi', 'bootWim', 'diskImage')) OR j.path = '$.initrds')
        ORDER BY p.id`,
      imageId,
    ),
  );
  return rows.map((r) => r.id);
}

const tags = ['profiles'];

export function profileRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List profiles',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional(), kind: z.enum(KINDS).optional() }) },
        responses: { 200: json(page(Profile, 'ProfilePage')), ...errorResponses },
      }),
      async (c) => {
        assertCatalogRead(c.get('principal')!);
        const { limit, cursor, kind } = c.req.valid('query');
        const rows = await c.get('deps').db.all<ProfileRow>(
          kind === undefined
            ? sql('SELECT * FROM profiles WHERE id > ? ORDER BY id LIMIT ?', cursor ?? '', limit + 1)
            : sql('SELECT * FROM profiles WHERE kind = ? AND id > ? ORDER BY id LIMIT ?', kind, cursor ?? '', limit + 1),
        );
        return c.json(keysetPage(rows, limit, toProfile), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Create a profile (admin)',
        request: { body: body(ProfileCreate) },
        responses: { 201: json(Profile, 'created'), 409: json(ErrorEnvelope, 'name taken'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        await assertNameFree(db, input.name);
        await validateSpec(db, input.spec, null);
        const now = clock.now();
        const row: ProfileRow = {
          id: newId('profile', now),
          name: input.name,
          description: input.description ?? '',
          kind: input.spec.kind,
          spec: JSON.stringify(input.spec),
          created_at: now,
          updated_at: now,
        };
        await db.batch([
          sql(
            'INSERT INTO profiles (id, name, description, kind, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
            row.id,
            row.name,
            row.description,
            row.kind,
            row.spec,
            row.created_at,
            row.updated_at,
          ),
          auditOk(c, row.id, null, 201),
        ]);
        return c.json(toProfile(row), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One profile',
        request: { params: IdParams },
        responses: { 200: json(Profile), ...errorResponses },
      }),
      async (c) => {
        assertCatalogRead(c.get('principal')!);
        const row = await c.get('deps').db.first<ProfileRow>(sql('SELECT * FROM profiles WHERE id = ?', c.req.valid('param').id));
        if (!row) throw notFound('profile');
        return c.json(toProfile(row), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch',
        path: '/{id}',
        tags,
        summary: 'Change a profile (admin); a new spec replaces the old one whole',
        request: { params: IdParams, body: body(ProfilePatch) },
        responses: { 200: json(Profile), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const { id } = c.req.valid('param');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const row = await db.first<ProfileRow>(sql('SELECT * FROM profiles WHERE id = ?', id));
        if (!row) throw notFound('profile');
        if (input.name !== undefined) await assertNameFree(db, input.name, id);
        if (input.spec !== undefined) await validateSpec(db, input.spec, id);
        const next: ProfileRow = {
          ...row,
          name: input.name ?? row.name,
          description: input.description ?? row.description,
          kind: input.spec?.kind ?? row.kind,
          spec: input.spec === undefined ? row.spec : JSON.stringify(input.spec),
          updated_at: clock.now(),
        };
        await db.batch([
          sql(
            'UPDATE profiles SET name = ?, description = ?, kind = ?, spec = ?, updated_at = ? WHERE id = ?',
            next.name,
            next.description,
            next.kind,
            next.spec,
            next.updated_at,
            id,
          ),
          auditOk(c, id, null),
        ]);
        return c.json(toProfile(next), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Delete a profile nothing refers to (admin)',
        request: { params: IdParams },
        responses: { 204: { description: 'deleted' }, 409: json(ErrorEnvelope, 'still referenced by an assignment, a site default or a menu'), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin');
        const { id } = c.req.valid('param');
        const { db } = c.get('deps');
        if (!(await db.first(sql('SELECT id FROM profiles WHERE id = ?', id)))) throw notFound('profile');
        const refs = await referencesTo(db, id);
        if (refs.length > 0) throw new AppError('conflict', `the profile is still used by ${refs.join(', ')}`);
        await db.batch([sql('DELETE FROM profiles WHERE id = ?', id), auditOk(c, id, null, 204)]);
        return c.body(null, 204);
      },
    );
}
