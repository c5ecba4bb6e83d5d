import { decideBoot, loaderOf, type BootDecision } from '../../../shared/boot/decide.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import { ID_PREFIXES } from '../../../shared/ids.ts';
import type { BootExplanation } from '../../../shared/schemas/boot.ts';
import { Arch } from '../../../shared/schemas/common.ts';
import { canReadSite, type Principal } from '../auth/principal.ts';
import { loadCatalog } from '../boot/catalog.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { findMachine, type MachineRow } from './machine-lookup.ts';
import { getSiteRow } from './sites.ts';

/*
 * "What will this machine boot?", asked before it ever booted, as well as after.
 *
 * A registered machine is decided as it is, at its site (or at `site` when it has none). A MAC no
 * machine has yet is decided as its first boot would be: the relay's sighting makes it a
 * `discovered` machine of the relay's site with no labels, pending assignments for its MAC are
 * adopted, and decideBoot runs (boot/serve.ts, boot/sighting.ts). The same catalog is loaded here
 * for that hypothetical row, nothing is written. Its site is `site`, or the site its pending MAC
 * assignments name; with neither, a MAC assignment of no site decides the same way at every site.
 *
 * The architecture is `arch`, else the recorded one; a firmware says it in DHCP option 93, so a
 * machine that never booted usually has none, and the reason then says how to ask for one.
 */

/** A site id no site has: the catalog then holds no site default and no site assignments. */
const ANY_SITE = 'site_(any)';

export interface ExplainQuery {
  idOrMac: string;
  arch?: Arch;
  site?: string;
}

interface PendingRow {
  id: string;
  site_id: string | null;
}

const ARCH_HINT = `give an architecture to decide for (arch: ${Arch.options.join(', ')})`;

function explanation(d: BootDecision, reason: string): BootExplanation {
  return {
    action: d.action,
    reason,
    arch: d.action === 'ignore' ? null : d.arch,
    profile: d.action === 'boot' || d.action === 'menu' ? { id: d.profile.id, name: d.profile.name } : null,
    assignmentId: d.action === 'boot' || d.action === 'menu' ? d.assignmentId : null,
    once: d.action === 'boot' && d.once,
    loader: loaderOf(d),
  };
}

/** The decision's reason, with what to do when only the architecture is missing. */
function reasonOf(d: BootDecision): string {
  if (d.action === 'ignore' && d.reason === 'unknown client architecture') {
    return `the architecture is not known yet (the firmware reports it when it boots): ${ARCH_HINT}`;
  }
  return d.reason;
}

async function assertSite(db: SqlDatabase, p: Principal, siteId: string): Promise<string> {
  const site = await getSiteRow(db, siteId);
  if (!site || !canReadSite(p, siteId)) {
    throw new AppError('validation_failed', 'site: no such site', { issues: [{ path: 'site', message: 'no such site' }] });
  }
  return site.name;
}

/** The explanation for a registered machine, or for a MAC at its first boot. */
export async function explainMachine(db: SqlDatabase, p: Principal, q: ExplainQuery): Promise<BootExplanation> {
  const row = await findMachine(db, q.idOrMac);
  if (row) return explainRegistered(db, p, row, q);
  if (q.idOrMac.startsWith(`${ID_PREFIXES.machine}_`)) throw new AppError('not_found', 'machine not found');
  return explainFirstBoot(db, p, normalizeMac(q.idOrMac)!, q);
}

async function explainRegistered(db: SqlDatabase, p: Principal, row: MachineRow, q: ExplainQuery): Promise<BootExplanation> {
  if (!canReadSite(p, row.site_id)) throw new AppError('not_found', 'machine not found');
  const siteId = row.site_id ?? q.site ?? null;
  if (q.site !== undefined) await assertSite(db, p, q.site);
  if (siteId === null) {
    return { action: 'ignore', reason: 'the machine belongs to no site: give a site to see what it would boot there', arch: null, profile: null, assignmentId: null, once: false, loader: null };
  }
  const at = q.site ?? siteId;
  const catalog = await loadCatalog(db, { mac: row.mac, siteId: at, machine: row });
  const d = decideBoot({ mac: row.mac, arch: q.arch ?? row.arch, siteId: at }, catalog);
  return explanation(d, reasonOf(d));
}

async function explainFirstBoot(db: SqlDatabase, p: Principal, mac: string, q: ExplainQuery): Promise<BootExplanation> {
  const pending = await db.all<PendingRow>(
    sql("SELECT id, site_id FROM assignments WHERE machine_id IS NULL AND json_extract(selector, '$.mac') = ?", mac),
  );
  // A MAC assignment of no site is admin-only (routes/assignments.ts): a site-limited token must not
  // learn its profile here, and an answer that left it out would be wrong.
  if (pending.some((a) => !canReadSite(p, a.site_id))) {
    throw new AppError('forbidden', 'an assignment for this MAC belongs to no site or to another site: only a token for every site can explain it');
  }
  const siteName = q.site === undefined ? null : await assertSite(db, p, q.site);
  const pendingSites = [...new Set(pending.map((a) => a.site_id).filter((s) => s !== null))];
  const siteId = q.site ?? (pendingSites.length === 1 ? pendingSites[0]! : null);
  if (siteId === null && pending.length === 0) {
    throw new AppError('not_found', `no machine has MAC ${mac} and no assignment names it: give a site to see what that site's default would boot`);
  }
  if (siteId !== null && !canReadSite(p, siteId)) throw new AppError('not_found', 'machine not found');
  const at = siteId ?? ANY_SITE;
  const now = 0;
  const hypothetical: MachineRow = {
    id: `${ID_PREFIXES.machine}_(first boot)`,
    mac,
    site_id: at,
    uuid: null,
    serial: null,
    hostname: null,
    arch: q.arch ?? null,
    labels: '{}',
    secure_boot: null,
    state: 'discovered',
    created_at: now,
    updated_at: now,
    last_seen_at: null,
  };
  const catalog = await loadCatalog(db, { mac, siteId: at, machine: hypothetical });
  const d = decideBoot({ mac, arch: q.arch, siteId: at }, catalog);
  const where = siteId === null ? 'at any site' : `at site ${siteName ?? (await getSiteRow(db, siteId))?.name ?? siteId}`;
  return explanation(d, `not registered yet; at its first boot ${where}: ${reasonOf(d)}`);
}
