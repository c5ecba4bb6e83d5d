import { createRoute, z } from '@hono/zod-openapi';
import { newId } from '../../../shared/ids.ts';
import { Assignment } from '../../../shared/schemas/assignment.ts';
import { Arch, Cursor, ErrorEnvelope, LabelKey, LabelValue, Limit, page } from '../../../shared/schemas/common.ts';
import { Machine, MachineCreate, MachinePatch, MachineState } from '../../../shared/schemas/machine.ts';
import { auditOk, noteSiteChange } from '../audit.ts';
import { assertRead, assertRole, assertWrite, canWriteSite, siteScope, type Principal } from '../auth/principal.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase, type SqlValue } from '../ports/sql-database.ts';
import { assignmentFor } from './assignments.ts';
import { selectorLabelsOf } from './inventory.ts';
import { findMachine, getMachineByMac, secureBootColumn, toMachine, type MachineRow } from './machine-lookup.ts';
import { body, errorResponses, json, router, keysetPage } from './openapi.ts';
import { assertSiteRef } from './refs.ts';

/** Enough to narrow a fleet by rack/role/env; each one is a json_extract per scanned row. */
const MAX_LABEL_FILTERS = 8;

/** `label=rack=r12`: split at the first `=`, both halves validated like stored labels. */
const LabelFilter = z.string().max(128).transform((s, ctx) => {
  const at = s.indexOf('=');
  const key = LabelKey.safeParse(at < 0 ? '' : s.slice(0, at));
  const value = LabelValue.safeParse(s.slice(at + 1));
  if (at < 0 || !key.success || !value.success) {
    ctx.addIssue({ code: 'custom', message: 'expected key=value, e.g. rack=r12' });
    return z.NEVER;
  }
  return [key.data, value.data] as const;
});

/** A whole number in a query string: digits only (z.coerce would read `?minCpus=` as 0). */
const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, 'a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const ListQuery = z.strictObject({
  limit: Limit,
  cursor: Cursor.optional(),
  siteId: z.string().max(64).optional(),
  state: MachineState.optional(),
  arch: Arch.optional(),
  // Hono hands a repeated query key over as an array and a single one as a string.
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(z.array(LabelFilter).max(MAX_LABEL_FILTERS))
    .meta({ description: `key=value; repeat for several (all must match), at most ${MAX_LABEL_FILTERS}` }),
  // Only hostname and MAC characters, so the value never carries LIKE wildcards.
  q: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9.:-]+$/, 'letters, digits and . : - only')
    .optional()
    .meta({ description: 'prefix of the hostname (any case) or of the MAC (colon form)' }),
  // Inventory (issue 17): machines that never reported are left out by either.
  minMemoryBytes: queryInt(0, Number.MAX_SAFE_INTEGER).optional().meta({ description: 'installed memory at least this many bytes (inventory)' }),
  minCpus: queryInt(1, 16_384).optional().meta({ description: 'at least this many logical CPUs (inventory)' }),
});

const MachineParams = z.object({
  idOrMac: z.string().min(1).max(64).meta({ description: 'machine id, or its MAC in any spelling (52:54:00:12:34:56, 52-54-00-12-34-56, 5254.0012.3456, 525400123456)' }),
});

const AssignmentMatch = z
  .object({
    assignment: Assignment.nullable(),
    reason: z.string(),
    specificity: z.number().int().nullable().meta({ description: 'see shared/boot/select.ts; null when nothing matches' }),
  })
  .meta({ id: 'AssignmentMatch' });

async function getVisible(db: SqlDatabase, p: Principal, idOrMac: string): Promise<MachineRow> {
  const row = await findMachine(db, idOrMac);
  if (!row) throw notFound('machine');
  assertRead(p, row.site_id, 'machine');
  return row;
}

/** Writing into a site (creating there, moving there): the site must be visible, then writable. */
function assertCanPlace(p: Principal, siteId: string | null): void {
  if (canWriteSite(p, siteId)) return;
  throw new AppError('forbidden', siteId === null ? 'machines without a site are admin-only' : 'your token may not change machines of that site');
}

const tags = ['machines'];

export function machineRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List the machines the token can see, filtered',
        request: { query: ListQuery },
        responses: { 200: json(page(Machine, 'MachinePage')), ...errorResponses },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const scope = siteScope(c.get('principal')!, 'site_id');
        const where = [scope.clause, 'id > ?'];
        const params: SqlValue[] = [...scope.params, q.cursor ?? ''];
        const eq = (column: string, value: string | undefined) => {
          if (value === undefined) return;
          where.push(`${column} = ?`);
          params.push(value);
        };
        eq('site_id', q.siteId);
        eq('state', q.state);
        eq('arch', q.arch);
        for (const [key, value] of q.label) {
          // LabelKey allows no quote, so the quoted JSON path cannot be broken out of. A derived
          // hw.* label counts unless a person set the same key, as in selectors.
          where.push('COALESCE(json_extract(labels, ?), json_extract(hw_labels, ?)) = ?');
          params.push(`$."${key}"`, `$."${key}"`, value);
        }
        if (q.minMemoryBytes !== undefined) {
          where.push('memory_bytes >= ?');
          params.push(q.minMemoryBytes);
        }
        if (q.minCpus !== undefined) {
          where.push('cpu_count >= ?');
          params.push(q.minCpus);
        }
        if (q.q !== undefined) {
          // SQLite's LIKE ignores ASCII case, which suits hostnames; MACs are stored lower-case with colons.
          where.push('(hostname LIKE ? OR mac LIKE ?)');
          params.push(`${q.q}%`, `${q.q.toLowerCase().replaceAll('-', ':')}%`);
        }
        const rows = await c.get('deps').db.all<MachineRow>(
          sql(`SELECT * FROM machines WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, ...params, q.limit + 1),
        );
        return c.json(keysetPage(rows, q.limit, toMachine), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Register a machine (admin; operators in their sites)',
        request: { body: body(MachineCreate) },
        responses: { 201: json(Machine, 'created'), 409: json(ErrorEnvelope, 'MAC taken'), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        assertRole(p, 'admin', 'operator');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const siteId = input.siteId ?? null;
        if (siteId !== null) await assertSiteRef(db, p, siteId, 'siteId');
        assertCanPlace(p, siteId);
        // MACs are unique fleet-wide (one NIC is in one place), so this 409 may concern a machine of
        // another site; it says only that the MAC is taken, not where.
        if (await getMachineByMac(db, input.mac)) throw new AppError('conflict', `a machine with MAC ${input.mac} exists`);
        const now = clock.now();
        const row: MachineRow = {
          id: newId('machine', now),
          mac: input.mac,
          site_id: siteId,
          uuid: input.uuid ?? null,
          serial: input.serial ?? null,
          hostname: input.hostname ?? null,
          arch: input.arch ?? null,
          labels: JSON.stringify(input.labels ?? {}),
          secure_boot: secureBootColumn(input.secureBoot ?? null),
          state: input.state ?? 'discovered',
          created_at: now,
          updated_at: now,
          last_seen_at: null,
        };
        const [, adopted] = await db.batch([
          sql(
            'INSERT INTO machines (id, mac, site_id, uuid, serial, hostname, arch, labels, secure_boot, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            row.id,
            row.mac,
            row.site_id,
            row.uuid,
            row.serial,
            row.hostname,
            row.arch,
            row.labels,
            row.secure_boot,
            row.state,
            row.created_at,
            row.updated_at,
          ),
          // Assignments made for this MAC before the machine existed now belong to it (and to its
          // site), so they are scoped and cascade like any other assignment of the machine.
          sql(
            "UPDATE assignments SET machine_id = ?, site_id = COALESCE(?, site_id) WHERE machine_id IS NULL AND json_extract(selector, '$.mac') = ?",
            row.id,
            row.site_id,
            row.mac,
          ),
          auditOk(c, row.id, row.site_id, 201),
        ]);
        // A MAC assigned before its machine existed is listed by every site its assignment may
        // reach (boot/site-snapshot.ts); now it is this site's machine, so those sites change too.
        if (adopted!.changes > 0) noteSiteChange(c, 'all');
        return c.json(toMachine(row), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}',
        tags,
        summary: 'One machine, by id or by MAC',
        request: { params: MachineParams },
        responses: { 200: json(Machine), ...errorResponses },
      }),
      async (c) => c.json(toMachine(await getVisible(c.get('deps').db, c.get('principal')!, c.req.valid('param').idOrMac)), 200),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}/assignment',
        tags,
        summary: 'The assignment that applies to this machine now, and why',
        request: { params: MachineParams },
        responses: { 200: json(AssignmentMatch), ...errorResponses },
      }),
      async (c) => {
        const row = await getVisible(c.get('deps').db, c.get('principal')!, c.req.valid('param').idOrMac);
        // Selectors see the derived hw.* labels under people's (inventory.ts).
        const match = await assignmentFor(c.get('deps').db, { ...toMachine(row), labels: selectorLabelsOf(row) });
        if (!match) return c.json({ assignment: null, reason: 'no assignment matches this machine', specificity: null }, 200);
        return c.json({ assignment: match.assignment, reason: match.reason, specificity: match.specificity }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch',
        path: '/{idOrMac}',
        tags,
        summary: 'Change a machine (labels are replaced as a whole; moving sites needs write access to both)',
        request: { params: MachineParams, body: body(MachinePatch) },
        responses: { 200: json(Machine), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const row = await getVisible(c.get('deps').db, c.get('principal')!, c.req.valid('param').idOrMac);
        assertWrite(p, row.site_id, 'machine');
        const siteId = input.siteId === undefined ? row.site_id : input.siteId;
        if (siteId !== row.site_id) {
          if (siteId !== null) await assertSiteRef(db, p, siteId, 'siteId');
          assertCanPlace(p, siteId);
        }
        const keep = <T>(v: T | undefined, old: T): T => (v === undefined ? old : v);
        const next: MachineRow = {
          ...row,
          site_id: siteId,
          uuid: keep(input.uuid, row.uuid),
          serial: keep(input.serial, row.serial),
          hostname: keep(input.hostname, row.hostname),
          arch: keep(input.arch, row.arch),
          labels: input.labels === undefined ? row.labels : JSON.stringify(input.labels),
          secure_boot: input.secureBoot === undefined ? row.secure_boot : secureBootColumn(input.secureBoot),
          state: input.state ?? row.state,
          updated_at: clock.now(),
        };
        await db.batch([
          sql(
            'UPDATE machines SET site_id = ?, uuid = ?, serial = ?, hostname = ?, arch = ?, labels = ?, secure_boot = ?, state = ?, updated_at = ? WHERE id = ?',
            next.site_id,
            next.uuid,
            next.serial,
            next.hostname,
            next.arch,
            next.labels,
            next.secure_boot,
            next.state,
            next.updated_at,
            row.id,
          ),
          // The machine's assignments follow it (see the scoping note in assignments.ts); moved out of
          // every site, they fall back to their selector's site if that still exists.
          sql(
            "UPDATE assignments SET site_id = COALESCE(?, (SELECT id FROM sites WHERE id = json_extract(assignments.selector, '$.siteId'))) WHERE machine_id = ?",
            next.site_id,
            row.id,
          ),
          auditOk(c, row.id, next.site_id),
        ]);
        // Moved: the site it left lists it no longer.
        if (next.site_id !== row.site_id) noteSiteChange(c, [row.site_id]);
        return c.json(toMachine(next), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{idOrMac}',
        tags,
        summary: 'Delete a machine and its assignments',
        request: { params: MachineParams },
        responses: { 204: { description: 'deleted' }, ...errorResponses },
      }),
      async (c) => {
        const row = await getVisible(c.get('deps').db, c.get('principal')!, c.req.valid('param').idOrMac);
        assertWrite(c.get('principal')!, row.site_id, 'machine');
        // assignments.machine_id cascades: the machine's own assignments go with it.
        await c.get('deps').db.batch([sql('DELETE FROM machines WHERE id = ?', row.id), auditOk(c, row.id, row.site_id, 204)]);
        return c.body(null, 204);
      },
    );
}
