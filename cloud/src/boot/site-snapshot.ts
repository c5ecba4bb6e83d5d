import { decideBoot, type Catalog, type CatalogMachine, type CatalogProfile } from '../../../shared/boot/decide.ts';
import { Arch } from '../../../shared/schemas/common.ts';
import { signedChainOf } from '../../../shared/schemas/profile.ts';
import type { Netboot, RelaySnapshot, SignedLoader, SnapshotMachine } from '../../../shared/schemas/relay-sync.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import type { MachineRow } from '../routes/machine-lookup.ts';
import { toCatalogAssignment, toCatalogMachine, toCatalogProfile, type CatalogAssignmentRow, type CatalogProfileRow } from './catalog.ts';

/**
 * The relay's view of one site, computed with the same decideBoot and the same row mappers as the
 * boot-script route (boot/catalog.ts), from a handful of whole-site queries: never one per machine,
 * a site may have thousands.
 */

const ARCHES = Arch.options;

/** Machines the site's relay can meet: its own and those of no site (decideBoot boots them anywhere). */
const SITE_MACHINES = '(site_id = ? OR site_id IS NULL)';
/** Assignments that can match those machines: of this site, fleet-wide, or naming one of them. */
const SITE_ASSIGNMENTS = `(site_id = ? OR site_id IS NULL OR machine_id IN (SELECT id FROM machines WHERE ${SITE_MACHINES}))`;

export async function siteSnapshot(db: SqlDatabase, siteId: string): Promise<Omit<RelaySnapshot, 'version'> | null> {
  const site = await db.first<{ default_profile_id: string | null }>(sql('SELECT default_profile_id FROM sites WHERE id = ?', siteId));
  if (!site) return null;
  const [machines, assignmentRows, profileRows, consumedRows] = await Promise.all([
    db.all<MachineRow>(sql(`SELECT * FROM machines WHERE ${SITE_MACHINES} ORDER BY mac`, siteId)),
    db.all<CatalogAssignmentRow>(sql(`SELECT id, profile_id, selector, once, priority, created_at FROM assignments WHERE ${SITE_ASSIGNMENTS}`, siteId, siteId)),
    db.all<CatalogProfileRow>(
      sql(`SELECT id, name, spec FROM profiles WHERE id = ? OR id IN (SELECT profile_id FROM assignments WHERE ${SITE_ASSIGNMENTS})`, site.default_profile_id, siteId, siteId),
    ),
    db.all<{ machine_id: string; assignment_id: string }>(
      sql(`SELECT machine_id, assignment_id FROM assignment_consumptions WHERE machine_id IN (SELECT id FROM machines WHERE ${SITE_MACHINES})`, siteId),
    ),
  ]);

  const assignments = assignmentRows.map(toCatalogAssignment);
  const profiles = new Map<string, CatalogProfile>();
  for (const r of profileRows) {
    const p = toCatalogProfile(r);
    if (p) profiles.set(p.id, p);
  }
  const consumed = new Map<string, Set<string>>();
  for (const r of consumedRows) {
    let s = consumed.get(r.machine_id);
    if (!s) consumed.set(r.machine_id, (s = new Set()));
    s.add(r.assignment_id);
  }
  const base = { assignments, profiles, siteDefaultProfileId: site.default_profile_id };
  // Only arch selectors make a decision depend on the architecture; without them one decision per machine is enough.
  const archMatters = assignments.some((a) => a.selector.arch !== undefined);
  const NONE: ReadonlySet<string> = new Set();

  const netbootOf = (mac: string, catalog: Catalog, knownArch: CatalogMachine['arch']): Netboot => {
    const boots = (arch: (typeof ARCHES)[number]) => {
      const d = decideBoot({ mac, arch, siteId }, catalog);
      return d.action === 'boot' || d.action === 'menu';
    };
    if (!archMatters) return boots(knownArch ?? 'bios');
    const yes = ARCHES.filter(boots);
    return yes.length === ARCHES.length ? true : yes.length === 0 ? false : yes;
  };

  /** UEFI x64 firmware boots through shim → GRUB when the decision for that architecture names them. */
  const loaderOf = (mac: string, catalog: Catalog): { loader?: SignedLoader } => {
    const d = decideBoot({ mac, arch: 'uefi-x64', siteId }, catalog);
    const chain = d.action === 'boot' || d.action === 'menu' ? signedChainOf(d.profile.spec) : null;
    return chain ? { loader: chain } : {};
  };
  const entry = (mac: string, machineId: string | null, arch: CatalogMachine['arch'], catalog: Catalog): SnapshotMachine => ({
    mac,
    machineId,
    arch,
    netboot: netbootOf(mac, catalog, arch),
    ...(arch === null || arch === 'uefi-x64' ? loaderOf(mac, catalog) : {}),
  });

  const entries: SnapshotMachine[] = machines.map((r) => entry(r.mac, r.id, r.arch, { ...base, machine: toCatalogMachine(r), consumed: consumed.get(r.id) ?? NONE }));

  // A MAC assigned before its machine ever booted: on first boot it is recorded as discovered at this
  // site and decided like that, so decide it the same way now (the relay must not treat it as unknown).
  const known = new Set(machines.map((m) => m.mac));
  for (const a of assignments) {
    const mac = a.selector.mac;
    if (mac === undefined || a.selector.machineId !== undefined || known.has(mac)) continue;
    if (a.selector.siteId !== undefined && a.selector.siteId !== siteId) continue;
    known.add(mac);
    const machine: CatalogMachine = { id: '', mac, siteId, labels: {}, arch: null, state: 'discovered' };
    entries.push(entry(mac, null, null, { ...base, machine, consumed: NONE }));
  }
  entries.sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));

  const unknownCatalog: Catalog = { ...base, machine: null, consumed: NONE };
  const unknown = decideBoot({ mac: '00:00:00:00:00:00', arch: 'bios', siteId }, unknownCatalog);
  return { siteId, unknownMachines: { netboot: unknown.action === 'boot' || unknown.action === 'menu', ...loaderOf('00:00:00:00:00:00', unknownCatalog) }, machines: entries };
}
