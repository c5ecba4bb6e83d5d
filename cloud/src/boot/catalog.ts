import type { Catalog, CatalogAssignment, CatalogMachine, CatalogProfile } from '../../../shared/boot/decide.ts';
import type { SelectorFields } from '../../../shared/boot/select.ts';
import { ProfileSpec } from '../../../shared/schemas/profile.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../ports/sql-database.ts';
import { selectorLabelsOf } from '../routes/inventory.ts';
import { getMachineByMac, secureBootOf, type MachineRow } from '../routes/machine-lookup.ts';
import { iso } from '../time.ts';

/**
 * Everything `decideBoot` needs about one machine at one site, in three indexed queries (two when
 * the caller already holds the machine row, sent as one batch; the boot route sends them in the batch
 * that records the sighting, boot/boot-inputs.ts), each with a handful of bound parameters whatever
 * the size of the fleet:
 *
 *   1. the machine, by MAC (UNIQUE index);
 *   2. its candidate assignments, each flagged when this machine has consumed it;
 *   3. the profiles those assignments and the site default name, the menu items of those that are
 *      menus, and the site default's id.
 *
 * Candidates are the assignments whose `machine_id` is this machine, plus the site's and the
 * fleet's that name no machine. Assignments naming another machine cannot match and are left out,
 * so a site with thousands of per-machine assignments still reads a few rows. A MAC assignment made
 * before the machine existed has no machine_id yet: it has no site either (or the selector's site),
 * so the second and third branches bring it in and `selectAssignment` compares the MAC.
 */

/** The assignment columns a decision needs. */
export interface CatalogAssignmentRow {
  id: string;
  profile_id: string;
  selector: string;
  once: number;
  priority: number;
  created_at: number;
}

export interface AssignmentRow extends CatalogAssignmentRow {
  consumed: number;
}

/** The profile columns a decision needs. */
export interface CatalogProfileRow {
  id: string;
  name: string;
  spec: string;
}

export interface ProfileRow extends CatalogProfileRow {
  site_default: string | null;
}

export function toCatalogMachine(r: MachineRow): CatalogMachine {
  // People's labels over the ones derived from the hardware report (hw.*): assignments select on both.
  return { id: r.id, mac: r.mac, siteId: r.site_id, labels: selectorLabelsOf(r), arch: r.arch, state: r.state, secureBoot: secureBootOf(r) };
}

export function toCatalogAssignment(r: CatalogAssignmentRow): CatalogAssignment {
  return {
    id: r.id,
    profileId: r.profile_id,
    selector: JSON.parse(r.selector) as SelectorFields,
    once: r.once === 1,
    priority: r.priority,
    createdAt: iso(r.created_at),
  };
}

/** A stored spec that no longer parses (not JSON, or not a ProfileSpec) is treated as missing, so decideBoot fails closed on it. */
export function toCatalogProfile(r: CatalogProfileRow): CatalogProfile | null {
  let raw: unknown;
  try {
    raw = JSON.parse(r.spec);
  } catch {
    return null;
  }
  const spec = ProfileSpec.safeParse(raw);
  return spec.success ? { id: r.id, name: r.name, spec: spec.data } : null;
}

export interface CatalogQuery {
  /** Canonical MAC. */
  mac: string;
  /** The site asking (the relay's), whose default applies to unknown machines. */
  siteId: string;
  /** The machine row when the caller already has it (it just upserted it); undefined = look it up. */
  machine?: MachineRow | null;
}

/**
 * Which machine the catalog is for, as a one-row CTE `me`: by its id, or by its MAC when the same
 * batch has just recorded its sighting (a new machine's id is known to the database first).
 */
export type CatalogMachineKey = { id: string } | { mac: string };

const me = (k: CatalogMachineKey) => ('id' in k ? sql('me AS (SELECT ? AS id)', k.id) : sql('me AS (SELECT id FROM machines WHERE mac = ?)', k.mac));

/**
 * The candidate assignments of `me` at a site (the branches the header explains); one bound site id.
 * No machine, no candidates: not even the site's, which need a machine to match.
 */
const CANDIDATES =
  '(a.machine_id = (SELECT id FROM me) OR (a.machine_id IS NULL AND a.site_id = ?) OR (a.machine_id IS NULL AND a.site_id IS NULL)) AND EXISTS (SELECT 1 FROM me)';

/** Query 2: the candidate assignments, each flagged when the machine has consumed it. */
export function catalogAssignmentsStatement(k: CatalogMachineKey, siteId: string): SqlStatement {
  const m = me(k);
  return sql(
    `WITH ${m.sql}
     SELECT a.id, a.profile_id, a.selector, a.once, a.priority, a.created_at,
            EXISTS (SELECT 1 FROM assignment_consumptions c WHERE c.assignment_id = a.id AND c.machine_id = (SELECT id FROM me)) AS consumed
       FROM assignments a
      WHERE ${CANDIDATES}`,
    ...m.params,
    siteId,
  );
}

/**
 * Query 3: the profiles the candidates and the site default name, and the menu items of those that
 * are menus. Every row carries the site default's id; when it is set, its profile is one of the rows
 * (the foreign key nulls it when the profile goes), so "no rows" means "no default".
 */
export function catalogProfilesStatement(k: CatalogMachineKey, siteId: string): SqlStatement {
  const m = me(k);
  return sql(
    `WITH ${m.sql},
     top AS (
       SELECT id, name, kind, spec FROM profiles
        WHERE id IN (SELECT a.profile_id FROM assignments a WHERE ${CANDIDATES}) OR id = (SELECT default_profile_id FROM sites WHERE id = ?)
     )
     SELECT id, name, spec, (SELECT default_profile_id FROM sites WHERE id = ?) AS site_default FROM top
     UNION
     SELECT p.id, p.name, p.spec, (SELECT default_profile_id FROM sites WHERE id = ?) FROM profiles p
      WHERE p.id IN (SELECT json_extract(i.value, '$.profileId') FROM top t, json_each(t.spec, '$.items') i WHERE t.kind = 'menu')`,
    ...m.params,
    siteId,
    siteId,
    siteId,
    siteId,
  );
}

/** The catalog from the rows of queries 2 and 3. */
export function catalogOf(machineRow: MachineRow | null, assignmentRows: readonly AssignmentRow[], profileRows: readonly ProfileRow[]): Catalog {
  const assignments: CatalogAssignment[] = [];
  const consumed = new Set<string>();
  for (const r of assignmentRows) {
    assignments.push(toCatalogAssignment(r));
    if (r.consumed === 1) consumed.add(r.id);
  }
  const profiles = new Map<string, CatalogProfile>();
  for (const r of profileRows) {
    const p = toCatalogProfile(r);
    if (p) profiles.set(p.id, p);
  }
  return {
    machine: machineRow ? toCatalogMachine(machineRow) : null,
    assignments,
    profiles,
    consumed,
    siteDefaultProfileId: profileRows[0]?.site_default ?? null,
  };
}

export async function loadCatalog(db: SqlDatabase, q: CatalogQuery): Promise<Catalog> {
  const machineRow = q.machine === undefined ? await getMachineByMac(db, q.mac) : q.machine;
  const key = machineRow ? { id: machineRow.id } : { mac: q.mac };
  const [assignments, profiles] = await db.batch([catalogAssignmentsStatement(key, q.siteId), catalogProfilesStatement(key, q.siteId)]);
  return catalogOf(machineRow, assignments!.rows as unknown as AssignmentRow[], profiles!.rows as unknown as ProfileRow[]);
}
