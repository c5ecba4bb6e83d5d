import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { relayConflicts, type RelayConflict } from '../../../shared/relay-conflicts.ts';
import { Enroll, Enrolled, EnrollmentCode, EnrollmentCodeCreate, Relay, RelayLan } from '../../../shared/schemas/access.ts';
import { Cursor, Limit, page } from '../../../shared/schemas/common.ts';
import { auditOk } from '../audit.ts';
import { canonicalEnrollmentCode, newEnrollmentCode } from '../auth/enrollment-code.ts';
import { issueToken } from '../auth/issue-token.ts';
import { assertRead, assertWrite, siteScope } from '../auth/principal.ts';
import { newRelayBootKey } from '../boot/relay-boot-key.ts';
import { sha256Hex } from '../auth/secrets.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase, type SqlStatement, type SqlValue } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { body, errorResponses, IdParams, json, keysetPage, router } from './openapi.ts';
import { getSiteRow } from './sites.ts';
import { desiredVersion, desiredVersions } from './relay-releases.ts';

export interface RelayRow {
  id: string;
  site_id: string;
  name: string;
  version: string | null;
  address: string | null;
  last_seen_at: number | null;
  created_at: number;
  revoked_at: number | null;
  update_state?: string | null;
  update_version?: string | null;
  update_reason?: string | null;
  update_at?: number | null;
  /** JSON RelayLan[] (migration 0008), as last reported; null: never. */
  lans?: string | null;
}

/** The stored LANs, read back; a row that does not parse counts as never reported (it cannot be compared). */
export function lansOf(r: Pick<RelayRow, 'lans'>): RelayLan[] | null {
  if (r.lans === null || r.lans === undefined) return null;
  try {
    const parsed = RelayLan.array().safeParse(JSON.parse(r.lans));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Conflicts of each given relay with its site's other non-revoked relays (shared/relay-conflicts.ts),
 * keyed by relay id. One query per 90 sites (D1 takes at most 100 bound parameters).
 */
export async function conflictsOf(db: SqlDatabase, rows: Pick<RelayRow, 'id' | 'site_id' | 'revoked_at'>[]): Promise<Map<string, RelayConflict[]>> {
  const sites = [...new Set(rows.filter((r) => r.revoked_at === null).map((r) => r.site_id))];
  const out = new Map<string, RelayConflict[]>();
  for (let i = 0; i < sites.length; i += 90) {
    const chunk = sites.slice(i, i + 90);
    const siblings = await db.all<Pick<RelayRow, 'id' | 'site_id' | 'name' | 'lans'>>(
      sql(`SELECT id, site_id, name, lans FROM relays WHERE revoked_at IS NULL AND lans IS NOT NULL AND site_id IN (${chunk.map(() => '?').join(', ')}) ORDER BY id`, ...chunk),
    );
    for (const site of chunk) {
      const found = relayConflicts(siblings.filter((r) => r.site_id === site).map((r) => ({ id: r.id, name: r.name, lans: lansOf(r) })));
      for (const [id, list] of found) out.set(id, list);
    }
  }
  return out;
}

export const toRelay = (r: RelayRow, desiredVersion?: string | null, conflicts: RelayConflict[] = []): Relay => ({
  id: r.id,
  siteId: r.site_id,
  name: r.name,
  version: r.version,
  address: r.address,
  lastSeenAt: iso(r.last_seen_at),
  createdAt: iso(r.created_at),
  revokedAt: iso(r.revoked_at),
  ...(desiredVersion === undefined ? {} : { desiredVersion }),
  update: r.update_state && r.update_version && r.update_at ? { state: r.update_state, version: r.update_version, reason: r.update_reason ?? null, at: iso(r.update_at)! } : null,
  lans: lansOf(r),
  conflicts: r.revoked_at === null ? conflicts : [],
});

/** One relay as the API shows it: with its conflicts among its site's relays. */
export async function relayView(db: SqlDatabase, r: RelayRow, desiredVersion?: string | null): Promise<Relay> {
  return toRelay(r, desiredVersion, (await conflictsOf(db, [r])).get(r.id));
}

export async function getRelayRow(db: SqlDatabase, id: string): Promise<RelayRow | null> {
  return db.first<RelayRow>(sql('SELECT * FROM relays WHERE id = ?', id));
}

/**
 * Turns `INSERT … VALUES (…)` into `INSERT … SELECT … WHERE <condition>`, so that inserts in a
 * batch take effect only if an earlier statement of the same batch won a race.
 */
function insertOnlyIf(s: SqlStatement, condition: string, ...params: SqlValue[]): SqlStatement {
  const text = s.sql.replace(/ VALUES \(([^()]*)\)$/, ` SELECT $1 WHERE ${condition}`);
  if (text === s.sql) throw new Error(`not a single-row INSERT … VALUES: ${s.sql}`);
  return sql(text, ...s.params, ...params);
}

const DEFAULT_CODE_TTL_S = 3600;
const tags = ['relays'];

/** Enrollment codes, enrollment, and the people's view of relays. Mounted at /v1. */
export function relayRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'post',
        path: '/sites/{id}/enrollment-codes',
        tags,
        summary: "Create a one-time code that enrolls one relay in this site (admin, or the site's operator)",
        request: { params: IdParams, body: { required: false, content: { 'application/json': { schema: EnrollmentCodeCreate } } } },
        responses: { 201: json(EnrollmentCode, 'created; the code is shown only this once'), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        const { id } = c.req.valid('param');
        // An absent body is valid here (every field has a default); the validator then hands over {}.
        const ttl = c.req.valid('json').expiresInSeconds ?? DEFAULT_CODE_TTL_S;
        const { db, clock } = c.get('deps');
        if (!(await getSiteRow(db, id))) throw notFound('site');
        assertWrite(p, id, 'site');
        const code = newEnrollmentCode();
        const now = clock.now();
        const expiresAt = now + ttl * 1000;
        await db.batch([
          sql(
            'INSERT INTO enrollment_codes (code_hash, site_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
            sha256Hex(canonicalEnrollmentCode(code)!),
            id,
            p.tokenId,
            now,
            expiresAt,
          ),
          auditOk(c, id, id, 201),
        ]);
        return c.json({ code, siteId: id, expiresAt: iso(expiresAt) }, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/relays/enroll',
        tags,
        summary: 'Enroll a relay with a one-time code; returns its credentials once (no bearer token needed)',
        security: [],
        request: { body: body(Enroll) },
        responses: { 201: json(Enrolled, 'enrolled'), 410: json(Enrolled, 'code already used or expired'), ...errorResponses },
      }),
      async (c) => {
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const canonical = canonicalEnrollmentCode(input.code);
        if (!canonical) throw new AppError('unauthorized', 'unknown enrollment code');
        const hash = sha256Hex(canonical);
        const code = await db.first<{ site_id: string; expires_at: number; used_at: number | null }>(
          sql('SELECT site_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?', hash),
        );
        const now = clock.now();
        if (!code) throw new AppError('unauthorized', 'unknown enrollment code');
        if (code.used_at !== null) throw new AppError('gone', 'enrollment code already used');
        if (code.expires_at <= now) throw new AppError('gone', 'enrollment code expired');

        const relay: RelayRow = {
          id: newId('relay', now),
          site_id: code.site_id,
          name: input.name,
          version: input.version ?? null,
          address: input.address ?? null,
          // Not seen running yet: enrolling proves the code, not a working relay. The first
          // heartbeat or sync sets it, so an install that stopped here shows as "never seen".
          last_seen_at: null,
          created_at: now,
          revoked_at: null,
        };
        const { secret, insert } = await issueToken(
          { name: `relay ${input.name}`, role: 'relay', siteIds: [relay.site_id], relayId: relay.id, createdBy: `enrollment:${relay.id}` },
          now,
        );
        // The UPDATE claims the code; only the request whose UPDATE changed the row (and so wrote its
        // relay id into it) gets its inserts, all in one transaction. Two enrollments racing past the
        // SELECT above still yield one relay.
        // The key the relay signs direct-mode boot URLs with (boot/relay-boot-key.ts); shown only now.
        const bootKey = newRelayBootKey();
        const won = ['EXISTS (SELECT 1 FROM enrollment_codes WHERE code_hash = ? AND relay_id = ?)', hash, relay.id] as const;
        const [claim] = await db.batch([
          sql('UPDATE enrollment_codes SET used_at = ?, relay_id = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?', now, relay.id, hash, now),
          insertOnlyIf(
            sql(
              'INSERT INTO relays (id, site_id, name, version, address, last_seen_at, created_at, boot_key, boot_key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
              relay.id,
              relay.site_id,
              relay.name,
              relay.version,
              relay.address,
              relay.last_seen_at,
              relay.created_at,
              bootKey.secret,
              bootKey.kid,
            ),
            ...won,
          ),
          insertOnlyIf(insert, ...won),
          insertOnlyIf(auditOk(c, relay.id, relay.site_id, 201), ...won),
        ]);
        if (claim!.changes === 0) {
          c.set('audited', false); // the guarded audit row was not written; auditRest records the refusal
          throw new AppError('gone', 'enrollment code already used');
        }
        return c.json({ relay: toRelay(relay), token: secret, bootKey: bootKey.secret, bootKeyId: bootKey.kid }, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/relays',
        tags,
        summary: 'List the relays the token can see, revoked ones included',
        request: { query: z.strictObject({ limit: Limit, cursor: Cursor.optional(), siteId: z.string().max(64).optional() }) },
        responses: { 200: json(page(Relay, 'RelayPage')), ...errorResponses },
      }),
      async (c) => {
        const { limit, cursor, siteId } = c.req.valid('query');
        const scope = siteScope(c.get('principal')!, 'site_id');
        const bySite = siteId === undefined ? { clause: '1=1', params: [] } : { clause: 'site_id = ?', params: [siteId] };
        const rows = await c.get('deps').db.all<RelayRow>(
          sql(
            `SELECT * FROM relays WHERE ${scope.clause} AND ${bySite.clause} AND id > ? ORDER BY id LIMIT ?`,
            ...scope.params,
            ...bySite.params,
            cursor ?? '',
            limit + 1,
          ),
        );
        const desired = await desiredVersions(c.get('deps').db);
        const conflicts = await conflictsOf(c.get('deps').db, rows.slice(0, limit));
        return c.json(keysetPage(rows, limit, (r) => toRelay(r, desired(r.site_id), conflicts.get(r.id))), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/relays/{id}',
        tags,
        summary: 'One relay',
        request: { params: IdParams },
        responses: { 200: json(Relay), ...errorResponses },
      }),
      async (c) => {
        const row = await getRelayRow(c.get('deps').db, c.req.valid('param').id);
        if (!row) throw notFound('relay');
        assertRead(c.get('principal')!, row.site_id, 'relay');
        return c.json(await relayView(c.get('deps').db, row, await desiredVersion(c.get('deps').db, row.site_id)), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/relays/{id}',
        tags,
        summary: "Revoke a relay and its token (admin, or the site's operator)",
        request: { params: IdParams },
        responses: { 204: { description: 'revoked' }, ...errorResponses },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const { db, clock } = c.get('deps');
        const row = await getRelayRow(db, id);
        if (!row) throw notFound('relay');
        assertWrite(c.get('principal')!, row.site_id, 'relay');
        const now = clock.now();
        await db.batch([
          sql('UPDATE relays SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', now, id),
          sql('UPDATE tokens SET revoked_at = ? WHERE relay_id = ? AND revoked_at IS NULL', now, id),
          auditOk(c, id, row.site_id, 204),
        ]);
        c.get('principals').clear();
        return c.body(null, 204);
      },
    );
}
