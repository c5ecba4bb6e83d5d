/**
 * Relay releases and self-update (the relay as an appliance).
 *
 * - People (/v1/relay-releases): publish a signed artifact (admin), list releases, choose the
 *   release relays run — fleet-wide, with per-site pins that win over it.
 * - Relays (/v1/relay, relay token): which release to run (`GET /release`), its bytes, and what
 *   became of an update (`POST /update-state`).
 * - Site boxes before enrollment (/v1/relays, public): the install script and the .deb it installs.
 *   Nothing secret is in them; the enrollment code is what admits a relay.
 *
 * The cloud stores the packager's signature and never signs: a relay trusts only the key baked
 * into its build (shared/release/statement.ts), so a compromised control plane cannot push code.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Sha256 } from '../../../shared/crypto/sha256.ts';
import { compareVersions, RELEASE_ARCHES, RELEASE_KINDS, ReleaseVersion, SignedRelease, UpdateReport } from '../../../shared/release/statement.ts';
import { auditOk } from '../audit.ts';
import { assertRole, assertWrite, type Principal } from '../auth/principal.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { body, errorResponses, json, router } from './openapi.ts';
import { installScript } from './relay-install-script.ts';
import { getRelayRow } from './relays.ts';
import { getSiteRow } from './sites.ts';
import { hashedBody, uploadLength } from './upload-body.ts';

const tags = ['relay releases'];
export const FLEET = '*';

export interface ReleaseRow {
  version: string;
  arch: string;
  kind: string;
  object_key: string;
  stored_bytes: number;
  bytes: number;
  sha256: string;
  key_id: string;
  signature: string;
  created_at: number;
  created_by: string | null;
}

export const RelayRelease = SignedRelease.extend({ storedBytes: z.number().int(), createdAt: z.string() }).meta({ id: 'RelayRelease' });
const toRelease = (r: ReleaseRow): z.infer<typeof RelayRelease> => ({
  version: r.version,
  arch: r.arch as (typeof RELEASE_ARCHES)[number],
  kind: r.kind as (typeof RELEASE_KINDS)[number],
  bytes: r.bytes,
  sha256: r.sha256,
  keyId: r.key_id,
  signature: r.signature,
  storedBytes: r.stored_bytes,
  createdAt: iso(r.created_at)!,
});

export const DesiredVersions = z
  .object({ fleet: z.string().nullable(), sites: z.array(z.object({ siteId: z.string(), version: z.string() })) })
  .meta({ id: 'DesiredVersions' });
export const SetDesired = z
  .strictObject({ version: ReleaseVersion.nullable(), siteId: z.string().min(1).max(64).optional() })
  .meta({ id: 'SetDesired', description: 'version null clears the pin (a site then follows the fleet) or the fleet choice' });

const ReleaseParams = z.object({ version: ReleaseVersion, arch: z.enum(RELEASE_ARCHES), kind: z.enum(RELEASE_KINDS) });

function objectKey(version: string, arch: string, kind: string): string {
  return `relay-releases/${version}/${arch}/${kind}${kind === 'executable' ? '.gz' : '.deb'}`;
}

/** The version relays of `siteId` should run: the site's pin, else the fleet's choice, else null. */
export async function desiredVersion(db: SqlDatabase, siteId: string): Promise<string | null> {
  const rows = await db.all<{ scope: string; version: string }>(sql('SELECT scope, version FROM relay_desired_versions WHERE scope IN (?, ?)', siteId, FLEET));
  return rows.find((r) => r.scope === siteId)?.version ?? rows.find((r) => r.scope === FLEET)?.version ?? null;
}

/** Every site's desired version at once (for lists): the pins, and the fleet's choice for the rest. */
export async function desiredVersions(db: SqlDatabase): Promise<(siteId: string) => string | null> {
  const rows = await db.all<{ scope: string; version: string }>(sql('SELECT scope, version FROM relay_desired_versions'));
  const map = new Map(rows.map((r) => [r.scope, r.version]));
  return (siteId) => map.get(siteId) ?? map.get(FLEET) ?? null;
}

async function getRelease(db: SqlDatabase, version: string, arch: string, kind: string): Promise<ReleaseRow | null> {
  return db.first<ReleaseRow>(sql('SELECT * FROM relay_releases WHERE version = ? AND arch = ? AND kind = ?', version, arch, kind));
}

async function streamRelease(c: Context<AppEnv>, row: ReleaseRow | null): Promise<Response> {
  if (!row) throw notFound('release');
  const obj = await c.get('deps').objects.get(row.object_key);
  if (!obj) throw notFound('release artifact');
  return new Response(obj.body, {
    status: 200,
    headers: { 'content-type': row.kind === 'executable' ? 'application/gzip' : 'application/vnd.debian.binary-package', 'content-length': String(obj.size), 'cache-control': 'public, max-age=31536000, immutable' },
  });
}

/** Publishing, listing, choosing. Mounted at /v1/relay-releases. */
export function relayReleaseRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'Published relay releases, newest first',
        responses: { 200: json(z.object({ items: z.array(RelayRelease) })), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin', 'operator', 'viewer');
        const rows = await c.get('deps').db.all<ReleaseRow>(sql('SELECT * FROM relay_releases'));
        rows.sort((a, b) => compareVersions(b.version, a.version) || a.arch.localeCompare(b.arch) || a.kind.localeCompare(b.kind));
        return c.json({ items: rows.map(toRelease) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/desired',
        tags,
        summary: 'The release relays should run: the fleet choice and the per-site pins',
        responses: { 200: json(DesiredVersions), ...errorResponses },
      }),
      async (c) => {
        assertRole(c.get('principal')!, 'admin', 'operator', 'viewer');
        const rows = await c.get('deps').db.all<{ scope: string; version: string }>(sql('SELECT scope, version FROM relay_desired_versions ORDER BY scope'));
        return c.json({ fleet: rows.find((r) => r.scope === FLEET)?.version ?? null, sites: rows.filter((r) => r.scope !== FLEET).map((r) => ({ siteId: r.scope, version: r.version })) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'put',
        path: '/desired',
        tags,
        summary: "Choose the release relays run: fleet-wide (admin) or pinned for one site (admin, or the site's operator)",
        request: { body: body(SetDesired) },
        responses: { 200: json(DesiredVersions), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        const { version, siteId } = c.req.valid('json');
        const { db, clock } = c.get('deps');
        if (siteId === undefined) assertRole(p, 'admin');
        else {
          if (!(await getSiteRow(db, siteId))) throw notFound('site');
          assertWrite(p, siteId, 'site');
        }
        if (version !== null) {
          const has = await db.first<{ n: number }>(sql("SELECT COUNT(*) AS n FROM relay_releases WHERE version = ? AND kind = 'executable'", version));
          if (!has?.n) throw new AppError('conflict', `no executable of relay ${version} is published: publish it first (edgeboot relays publish)`);
        }
        const scope = siteId ?? FLEET;
        await db.batch([
          version === null
            ? sql('DELETE FROM relay_desired_versions WHERE scope = ?', scope)
            : sql('INSERT INTO relay_desired_versions (scope, version, set_at, set_by) VALUES (?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE SET version = excluded.version, set_at = excluded.set_at, set_by = excluded.set_by', scope, version, clock.now(), p.tokenId),
          auditOk(c, `relay-version:${scope}`, siteId ?? null, 200),
        ]);
        const rows = await db.all<{ scope: string; version: string }>(sql('SELECT scope, version FROM relay_desired_versions ORDER BY scope'));
        return c.json({ fleet: rows.find((r) => r.scope === FLEET)?.version ?? null, sites: rows.filter((r) => r.scope !== FLEET).map((r) => ({ siteId: r.scope, version: r.version })) }, 200);
      },
    )
    .put('/:version/:arch/:kind', async (c) => {
      // Binary body: a plain route (the OpenAPI validators read JSON). Streamed to the store.
      const p = c.get('principal')!;
      assertRole(p, 'admin');
      const params = ReleaseParams.safeParse(c.req.param());
      if (!params.success) throw new AppError('validation_failed', `not a release: ${z.prettifyError(params.error)}`);
      const q = c.req.query();
      const statement = SignedRelease.safeParse({ ...params.data, bytes: Number(q.bytes), sha256: q.sha256, keyId: q.keyId, signature: q.signature });
      if (!statement.success) throw new AppError('validation_failed', `the release statement (query: bytes, sha256, keyId, signature) is not one: ${z.prettifyError(statement.error)}`);
      const s = statement.data;
      const { db, objects, clock } = c.get('deps');
      const existing = await getRelease(db, s.version, s.arch, s.kind);
      if (existing) {
        if (existing.sha256 === s.sha256 && existing.signature === s.signature) return c.json(toRelease(existing), 200);
        throw new AppError('conflict', `relay ${s.version} ${s.arch} ${s.kind} is already published with other bytes: releases are immutable, publish a new version`);
      }
      const size = uploadLength(c);
      // A .deb is stored as signed, so its hash is checked here; an executable travels gzip-compressed
      // and only the relay, after decompressing, can check the signed hash.
      const hash = new Sha256();
      const key = objectKey(s.version, s.arch, s.kind);
      await hashedBody(c, size, hash, (stream) => objects.put(key, stream, { size, contentType: s.kind === 'executable' ? 'application/gzip' : 'application/vnd.debian.binary-package' }));
      if (s.kind === 'deb' && (hash.digestHex() !== s.sha256 || size !== s.bytes)) {
        await objects.delete(key);
        throw new AppError('checksum_mismatch', `the uploaded package (${size} bytes, sha256 ${hash.digestHex()}) is not the signed one (${s.bytes} bytes, sha256 ${s.sha256})`);
      }
      const row: ReleaseRow = { version: s.version, arch: s.arch, kind: s.kind, object_key: key, stored_bytes: size, bytes: s.bytes, sha256: s.sha256, key_id: s.keyId, signature: s.signature, created_at: clock.now(), created_by: p.tokenId };
      await db.batch([
        sql(
          'INSERT INTO relay_releases (version, arch, kind, object_key, stored_bytes, bytes, sha256, key_id, signature, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          row.version,
          row.arch,
          row.kind,
          row.object_key,
          row.stored_bytes,
          row.bytes,
          row.sha256,
          row.key_id,
          row.signature,
          row.created_at,
          row.created_by,
        ),
        auditOk(c, `relay-release:${s.version}/${s.arch}/${s.kind}`, null, 201),
      ]);
      return c.json(toRelease(row), 201);
    });
}

async function selfRelay(db: SqlDatabase, p: Principal) {
  const row = p.relayId === null ? null : await getRelayRow(db, p.relayId);
  if (!row) throw notFound('relay');
  return row;
}

/** What a relay asks about its own updates. Mounted at /v1/relay. */
export function relayUpdateRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'post',
        path: '/update-state',
        tags: ['relay'],
        summary: 'Report what became of an update: downloading, restarting, updated, refused (why), rolled back (why) (relay token)',
        request: { body: body(UpdateReport) },
        responses: { 200: json(z.object({ ok: z.literal(true) })), ...errorResponses },
      }),
      async (c) => {
        const { db, clock } = c.get('deps');
        const relay = await selfRelay(db, c.get('principal')!);
        const r = c.req.valid('json');
        // Telemetry, like the heartbeat: not audited.
        await db.batch([sql('UPDATE relays SET update_state = ?, update_version = ?, update_reason = ?, update_at = ? WHERE id = ?', r.state, r.version, r.reason ?? null, clock.now(), relay.id)]);
        return c.json({ ok: true as const }, 200);
      },
    )
    .get('/release', async (c) => {
      const { db } = c.get('deps');
      const relay = await selfRelay(db, c.get('principal')!);
      const arch = z.enum(RELEASE_ARCHES).safeParse(c.req.query('arch'));
      if (!arch.success) throw new AppError('validation_failed', `arch must be one of ${RELEASE_ARCHES.join(', ')}`);
      const version = await desiredVersion(db, relay.site_id);
      const row = version === null ? null : await getRelease(db, version, arch.data, 'executable');
      if (!row) return c.json({ desired: null }, 200);
      const r = toRelease(row);
      return c.json({ desired: { version: r.version, arch: r.arch, kind: r.kind, bytes: r.bytes, sha256: r.sha256, keyId: r.keyId, signature: r.signature, path: `/v1/relay/releases/${r.version}/${r.arch}/${r.kind}` } }, 200);
    })
    .get('/releases/:version/:arch/:kind', async (c) => {
      await selfRelay(c.get('deps').db, c.get('principal')!);
      const params = ReleaseParams.safeParse(c.req.param());
      if (!params.success) throw notFound('release');
      return streamRelease(c, await getRelease(c.get('deps').db, params.data.version, params.data.arch, params.data.kind));
    });
}

/** For a box that is not a relay yet. Mounted at /v1/relays, public. */
export function relayInstallRoutes() {
  return router()
    .get('/install.sh', (c) => {
      const origin = new URL(c.req.url).origin;
      return c.body(installScript(origin), 200, { 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'no-store' });
    })
    .get('/packages/latest', async (c) => {
      const arch = z.enum(RELEASE_ARCHES).safeParse(c.req.query('arch'));
      if (!arch.success) throw new AppError('validation_failed', `arch must be one of ${RELEASE_ARCHES.join(', ')}`);
      const { db } = c.get('deps');
      const debs = await db.all<ReleaseRow>(sql("SELECT * FROM relay_releases WHERE arch = ? AND kind = 'deb'", arch.data));
      const fleet = await desiredVersion(db, FLEET);
      const pick = debs.find((d) => d.version === fleet) ?? debs.sort((a, b) => compareVersions(b.version, a.version))[0];
      if (!pick) throw notFound(`relay package for ${arch.data}`);
      // key=value lines: the install script reads them with sed, no JSON parser on a bare box.
      return c.body(`version=${pick.version}\narch=${pick.arch}\nbytes=${pick.bytes}\nsha256=${pick.sha256}\npath=/v1/relays/packages/${pick.version}/${pick.arch}/deb\n`, 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    })
    .get('/packages/:version/:arch/:kind', async (c) => {
      const params = ReleaseParams.safeParse(c.req.param());
      if (!params.success || params.data.kind !== 'deb') throw notFound('package');
      return streamRelease(c, await getRelease(c.get('deps').db, params.data.version, params.data.arch, 'deb'));
    });
}
