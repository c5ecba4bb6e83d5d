import { createRoute, z } from '@hono/zod-openapi';
import { selectAssignment, type MachineFacts, type Selection } from '../../../shared/boot/select.ts';
import { newId } from '../../../shared/ids.ts';
import { Assignment, AssignmentCreate, AssignmentCreated, AssignmentPatch, type Selector } from '../../../shared/schemas/assignment.ts';
import { Cursor, Limit, page } from '../../../shared/schemas/common.ts';
import { auditOk } from '../audit.ts';
import { assertRole, canReadSite, canWriteSite, siteScope, type Principal } from '../auth/principal.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { getMachineById, getMachineByMac, type MachineRow } from './machine-lookup.ts';
import { body, errorResponses, IdParams, json, router, keysetPage } from './openapi.ts';
import { assertProfileRef, assertSiteRef, invalidRef } from './refs.ts';

/*
 * Scoping. An assignment belongs to one site, denormalised into `site_id`:
 *   - the site of the machine it names (selector.machineId, or the machine that owns selector.mac),
 *     because the assignment is about that machine and follows it when it moves;
 *   - otherwise selector.siteId;
 *   - otherwise none: a fleet-wide rule (arch, labels), or a MAC no machine has yet.
 * Writing needs write access to every site involved (the machine's and selector.siteId); an
 * assignment with no site is admin-only, like a machine with no site.
 *
 * Reading: a site-limited token sees its sites' assignments plus the fleet-wide RULES (no site, no
 * machine, no MAC). Those rules decide what its own machines boot, and GET /machines/{id}/assignment
 * may name one as the winner, so hiding them would only make the answer unexplainable. Nothing that
 * belongs to another site is visible: a pending MAC assignment (no machine yet) stays admin-only
 * because the MAC may end up in another site.
 *
 * `machine_id` is also set for MAC selectors once a machine has that MAC (here, or when the machine
 * is created), so deleting a machine removes every assignment about it (ON DELETE CASCADE).
 */

interface AssignmentRow {
  id: string;
  profile_id: string;
  selector: string;
  machine_id: string | null;
  site_id: string | null;
  once: number;
  priority: number;
  created_at: number;
  updated_at: number;
}

const toAssignment = (r: AssignmentRow): Assignment => ({
  id: r.id,
  profileId: r.profile_id,
  selector: JSON.parse(r.selector) as Assignment['selector'],
  once: r.once === 1,
  priority: r.priority,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

/** SQL for "a fleet-wide rule": visible to every human token. */
const FLEET_RULE = "(site_id IS NULL AND machine_id IS NULL AND json_extract(selector, '$.mac') IS NULL)";

function canReadAssignment(p: Principal, r: AssignmentRow): boolean {
  if (canReadSite(p, r.site_id)) return true;
  return p.role !== 'relay' && r.site_id === null && r.machine_id === null && (JSON.parse(r.selector) as Selector).mac === undefined;
}

async function getReadable(db: SqlDatabase, p: Principal, id: string): Promise<AssignmentRow> {
  const row = await db.first<AssignmentRow>(sql('SELECT * FROM assignments WHERE id = ?', id));
  if (!row || !canReadAssignment(p, row)) throw notFound('assignment');
  return row;
}

function assertWritable(p: Principal, r: AssignmentRow): void {
  if (!canWriteSite(p, r.site_id)) {
    throw new AppError('forbidden', r.site_id === null ? 'assignments without a site are admin-only' : 'your token may not change this assignment');
  }
}

/**
 * The machine a selector names, checked against the caller. A machine id the caller cannot see is
 * "no such machine" (400). A MAC is different: it may name no machine yet (pre-provisioning), and
 * MACs are globally unique and not secret (creating a machine with a taken MAC already says 409),
 * so a MAC owned by a machine the caller may not change is a plain 403.
 */
async function selectedMachine(db: SqlDatabase, p: Principal, s: Selector): Promise<MachineRow | null> {
  if (s.machineId !== undefined) {
    const m = await getMachineById(db, s.machineId);
    if (!m || !canReadSite(p, m.site_id)) throw invalidRef('selector.machineId', 'no such machine');
    // A machine's MAC never changes, so a selector naming both that disagree could never match.
    if (s.mac !== undefined && s.mac !== m.mac) throw invalidRef('selector.mac', 'is not the MAC of selector.machineId');
    return m;
  }
  if (s.mac === undefined) return null;
  const m = await getMachineByMac(db, s.mac);
  if (m && !canWriteSite(p, m.site_id)) throw new AppError('forbidden', 'this MAC belongs to a machine your token may not change');
  return m;
}

/**
 * The candidates that can match `m`: its own assignments, its site's, and those with no site. Any
 * other assignment names another machine or another site, so it could not match.
 */
export async function assignmentFor(db: SqlDatabase, m: MachineFacts): Promise<Selection<Assignment> | null> {
  const rows = await db.all<AssignmentRow>(
    sql('SELECT * FROM assignments WHERE machine_id = ? OR site_id IS NULL OR site_id = ?', m.id, m.siteId),
  );
  return selectAssignment(m, rows.map(toAssignment));
}

/**
 * The rows that name one machine: its own (machine_id, set for machineId selectors and for MAC
 * selectors once the machine exists) and MAC assignments still waiting for it. One condition, so
 * the DELETE of a replace finds in its transaction exactly what the read before it listed, plus
 * anything another caller added meanwhile: the machine ends with one assignment either way.
 */
function namingMachine(machine: MachineRow | null, mac: string | undefined): { clause: string; params: string[] } {
  const pending = "(machine_id IS NULL AND json_extract(selector, '$.mac') = ?)";
  if (machine) return { clause: `(machine_id = ? OR ${pending})`, params: [machine.id, machine.mac] };
  return { clause: pending, params: [mac!] };
}

/** For `replace`: the assignments about this machine, checked writable, and the statement deleting them. */
async function replacing(db: SqlDatabase, p: Principal, s: Selector, machine: MachineRow | null): Promise<{ rows: AssignmentRow[]; remove: SqlStatement }> {
  if (s.machineId === undefined && s.mac === undefined) {
    const message = 'replace needs a selector naming one machine (machineId or mac)';
    throw new AppError('validation_failed', `replace: ${message}`, { issues: [{ path: 'replace', message }] });
  }
  const where = namingMachine(machine, s.mac);
  const rows = await db.all<AssignmentRow>(sql(`SELECT * FROM assignments WHERE ${where.clause} ORDER BY id`, ...where.params));
  if (rows.some((r) => !canWriteSite(p, r.site_id))) throw new AppError('forbidden', 'your token may not change an assignment this one would replace');
  return { rows, remove: sql(`DELETE FROM assignments WHERE ${where.clause}`, ...where.params) };
}

const tags = ['assignments'];

export function assignmentRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List the assignments the token can see',
        request: {
          query: z.strictObject({
            limit: Limit,
            cursor: Cursor.optional(),
            siteId: z.string().max(64).optional(),
            machineId: z.string().max(64).optional(),
            profileId: z.string().max(64).optional(),
          }),
        },
        responses: { 200: json(page(Assignment, 'AssignmentPage')), ...errorResponses },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const p = c.get('principal')!;
        const scope = siteScope(p, 'site_id');
        const where = [p.siteIds === null ? scope.clause : `(${scope.clause} OR ${FLEET_RULE})`, 'id > ?'];
        const params: (string | number)[] = [...scope.params, q.cursor ?? ''];
        for (const [column, value] of [
          ['site_id', q.siteId],
          ['machine_id', q.machineId],
          ['profile_id', q.profileId],
        ] as const) {
          if (value === undefined) continue;
          where.push(`${column} = ?`);
          params.push(value);
        }
        const rows = await c.get('deps').db.all<AssignmentRow>(
          sql(`SELECT * FROM assignments WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, ...params, q.limit + 1),
        );
        return c.json(keysetPage(rows, q.limit, toAssignment), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Assign a profile to a machine or to a selector (admin; operators within their sites); replace: true makes it the machine\'s only one',
        request: { body: body(AssignmentCreate) },
        responses: { 201: json(AssignmentCreated, 'created'), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        assertRole(p, 'admin', 'operator');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const s = input.selector;
        await assertProfileRef(db, input.profileId, 'profileId');
        if (s.siteId !== undefined) await assertSiteRef(db, p, s.siteId, 'selector.siteId');
        const machine = await selectedMachine(db, p, s);
        const involved = [machine?.site_id ?? null, s.siteId ?? null].filter((x) => x !== null);
        if (involved.length === 0 && !canWriteSite(p, null)) throw new AppError('forbidden', 'assignments without a site are admin-only');
        if (involved.some((site) => !canWriteSite(p, site))) throw new AppError('forbidden', 'your token may not change assignments of that site');
        const replaced = input.replace ? await replacing(db, p, s, machine) : null;
        const now = clock.now();
        const row: AssignmentRow = {
          id: newId('assignment', now),
          profile_id: input.profileId,
          selector: JSON.stringify(s),
          machine_id: machine?.id ?? null,
          site_id: involved[0] ?? null,
          once: input.once ? 1 : 0,
          priority: input.priority,
          created_at: now,
          updated_at: now,
        };
        await db.batch([
          ...(replaced ? [replaced.remove] : []),
          sql(
            'INSERT INTO assignments (id, profile_id, selector, machine_id, site_id, once, priority, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            row.id,
            row.profile_id,
            row.selector,
            row.machine_id,
            row.site_id,
            row.once,
            row.priority,
            row.created_at,
            row.updated_at,
          ),
          auditOk(c, row.id, row.site_id, 201),
        ]);
        return c.json(replaced ? { ...toAssignment(row), replaced: replaced.rows.map(toAssignment) } : toAssignment(row), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One assignment',
        request: { params: IdParams },
        responses: { 200: json(Assignment), ...errorResponses },
      }),
      async (c) => {
        const row = await getReadable(c.get('deps').db, c.get('principal')!, c.req.valid('param').id);
        return c.json(toAssignment(row), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch',
        path: '/{id}',
        tags,
        summary: "Change an assignment's profile, once flag or priority (the selector is fixed: create another)",
        request: { params: IdParams, body: body(AssignmentPatch) },
        responses: { 200: json(Assignment), ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        const { id } = c.req.valid('param');
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const row = await getReadable(db, p, id);
        assertWritable(p, row);
        if (input.profileId !== undefined) await assertProfileRef(db, input.profileId, 'profileId');
        const next: AssignmentRow = {
          ...row,
          profile_id: input.profileId ?? row.profile_id,
          once: input.once === undefined ? row.once : input.once ? 1 : 0,
          priority: input.priority ?? row.priority,
          updated_at: clock.now(),
        };
        await db.batch([
          sql(
            'UPDATE assignments SET profile_id = ?, once = ?, priority = ?, updated_at = ? WHERE id = ?',
            next.profile_id,
            next.once,
            next.priority,
            next.updated_at,
            id,
          ),
          auditOk(c, id, row.site_id),
        ]);
        return c.json(toAssignment(next), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Delete an assignment',
        request: { params: IdParams },
        responses: { 204: { description: 'deleted' }, ...errorResponses },
      }),
      async (c) => {
        const p = c.get('principal')!;
        const { id } = c.req.valid('param');
        const { db } = c.get('deps');
        const row = await getReadable(db, p, id);
        assertWritable(p, row);
        await db.batch([sql('DELETE FROM assignments WHERE id = ?', id), auditOk(c, id, row.site_id, 204)]);
        return c.body(null, 204);
      },
    );
}
