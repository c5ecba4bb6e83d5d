import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { Cursor, ErrorEnvelope, Limit, page } from '../../../shared/schemas/common.ts';
import { DISK_FORMATS } from '../../../shared/schemas/imaging.ts';
import { checkProfileImages, type ImageFacts, type ItemProfile } from '../../../shared/boot/profile-images.ts';
import { Profile, ProfileCreate, ProfilePatch, ProfileSpec, signedChainOf, type ProfileKind } from '../../../shared/schemas/profile.ts';
import { auditOk } from '../audit.ts';
import { assertRole, type Principal, assertCatalogRead } from '../auth/principal.ts';
import { AppError, notFound, type Issue } from '../errors.ts';
import type { AppDeps } from '../context.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { binaryOf, loadBinaryInfo, type ImageRow } from './image-records.ts';
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
  const chain = (s: { shim?: string; grub?: string }): [string, string][] => [
    ...(s.shim === undefined ? [] : [['spec.shim', s.shim] as [string, string]]),
    ...(s.grub === undefined ? [] : [['spec.grub', s.grub] as [string, string]]),
  ];
  switch (spec.kind) {
    case 'linux':
      return [['spec.kernel', spec.kernel], ...spec.initrds.map((id, i): [string, string] => [`spec.initrds.${i}`, id]), ...chain(spec)];
    case 'wimboot':
      return (['wimboot', 'bcd', 'bootSdi', 'bootWim'] as const).map((k): [string, string] => [`spec.${k}`, spec[k]]);
    case 'imaging':
      return [
        ['spec.kernel', spec.kernel],
        ...spec.initrds.map((id, i): [string, string] => [`spec.initrds.${i}`, id]),
        ['spec.diskImage', spec.diskImage],
        ...chain(spec),
      ];
    case 'menu':
      return chain(spec);
    default:
      return [];
  }
}

/** Image rows by id, in one query whatever their number. */
async function imageRows(db: SqlDatabase, ids: string[]): Promise<Map<string, ImageRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db.all<ImageRow>(sql('SELECT * FROM images WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify([...new Set(ids)])));
  return new Map(rows.map((r) => [r.id, r]));
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
 * Every reference in `spec` must resolve: images for linux/wimboot/imaging (and the shim and GRUB
 * of the signed chain), profiles for menu items, without a cycle of menus through `selfId` (null on
 * create: a new id cannot be referenced yet, so no cycle can run through it). Then the images must
 * suit their roles (shared/boot/profile-images.ts). All bad fields are reported at once. Returns the
 * spec to store: its arch filled in from its kernel when it was left out.
 */
async function validateSpec(deps: Pick<AppDeps, 'db' | 'objects'>, spec: ProfileSpec, selfId: string | null): Promise<ProfileSpec> {
  const { db } = deps;
  const issues: Issue[] = [];
  const images = imageRefs(spec);
  const items = new Map<string, ItemProfile>();
  if (spec.kind === 'menu' && spec.items.length > 0) {
    const rows = await db.all<{ id: string; name: string; spec: string }>(
      sql('SELECT id, name, spec FROM profiles WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify([...new Set(spec.items.map((i) => i.profileId))])),
    );
    for (const r of rows) {
      const parsed = ProfileSpec.safeParse(JSON.parse(r.spec));
      if (parsed.success) items.set(r.id, { name: r.name, spec: parsed.data });
    }
  }
  // Kernels whose bytes matter: the profile's own, and under a menu's shim those of its items.
  const kernels = new Set<string>();
  if (spec.kind === 'linux' || spec.kind === 'imaging') kernels.add(spec.kernel);
  if (spec.kind === 'menu' && signedChainOf(spec)) for (const it of items.values()) if (it.spec.kind === 'linux' || it.spec.kind === 'imaging') kernels.add(it.spec.kernel);
  const rows = await imageRows(db, [...images.map(([, id]) => id), ...kernels]);
  for (const [path, id] of images) if (!rows.has(id)) issues.push({ path, message: `no such image: ${id}` });
  if (spec.kind === 'imaging') {
    // The imager writes raw images, gzip- or zstd-compressed; anything else would fail on the machine.
    const disk = rows.get(spec.diskImage);
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

  // What the bytes say is read for the binaries whose bytes matter (recorded at upload; sniffed
  // from the store once for images uploaded before that was recorded).
  const chain = spec.kind === 'linux' || spec.kind === 'imaging' || spec.kind === 'menu' ? [spec.shim, spec.grub] : [];
  const sniffed = new Set([...chain.filter((id): id is string => id !== undefined), ...kernels]);
  const facts = new Map<string, ImageFacts>();
  for (const row of rows.values()) {
    const binary = sniffed.has(row.id) ? await loadBinaryInfo(deps, row) : binaryOf(row);
    facts.set(row.id, { id: row.id, name: row.name, size: row.size, arch: row.arch, binary });
  }
  const checked = checkProfileImages(spec, facts, items);
  issues.push(...checked.issues);
  if (issues.length > 0) throw new AppError('validation_failed', `invalid spec: ${issues[0]!.path}: ${issues[0]!.message}`, { issues });
  return checked.spec;
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
        WHERE p.kind IN ('linux', 'wimboot', 'imaging', 'menu') AND j.atom = ?
          AND ((j.path = '$' AND j.key IN ('kernel', 'wimboot', 'bcd', 'bootSdi', 'bootWim', 'diskImage', 'shim', 'grub')) OR j.path = '$.initrds')
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
        const spec = await validateSpec(c.get('deps'), input.spec, null);
        const now = clock.now();
        const row: ProfileRow = {
          id: newId('profile', now),
          name: input.name,
          description: input.description ?? '',
          kind: spec.kind,
          spec: JSON.stringify(spec),
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
        const spec = input.spec === undefined ? undefined : await validateSpec(c.get('deps'), input.spec, id);
        const next: ProfileRow = {
          ...row,
          name: input.name ?? row.name,
          description: input.description ?? row.description,
          kind: spec?.kind ?? row.kind,
          spec: spec === undefined ? row.spec : JSON.stringify(spec),
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
