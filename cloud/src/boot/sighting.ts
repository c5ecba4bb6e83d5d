import { archFromCode } from '../../../shared/boot/arch.ts';
import { newId } from '../../../shared/ids.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../ports/sql-database.ts';
import { getMachineByMac, type MachineRow } from '../routes/machine-lookup.ts';

export interface Sighting {
  mac: string;
  siteId: string;
  archCode?: number;
  uuid?: string;
  serial?: string;
}

/**
 * Records that a machine asked to boot at a site, in one statement: an unknown MAC becomes a
 * `discovered` machine of that site with the facts the relay saw; a known one gets `last_seen_at`,
 * and uuid/serial/arch only when none was known (people's edits win over what firmware says).
 *
 * A machine of another site is left untouched (the WHERE of the upsert): a relay may not rewrite
 * facts about machines it does not serve, so nothing comes back and it is read instead.
 */
export async function recordSighting(db: SqlDatabase, s: Sighting, now: number): Promise<{ machine: MachineRow; discovered: boolean }> {
  const arch = s.archCode === undefined ? null : (archFromCode(s.archCode)?.arch ?? null);
  const row = await db.first<MachineRow>(
    sql(
      `INSERT INTO machines (id, mac, site_id, uuid, serial, arch, labels, state, created_at, updated_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, '{}', 'discovered', ?, ?, ?)
       ON CONFLICT(mac) DO UPDATE SET
         last_seen_at = excluded.last_seen_at,
         uuid = COALESCE(machines.uuid, excluded.uuid),
         serial = COALESCE(machines.serial, excluded.serial),
         arch = COALESCE(machines.arch, excluded.arch)
       WHERE machines.site_id IS NULL OR machines.site_id = excluded.site_id
       RETURNING *`,
      newId('machine', now),
      s.mac,
      s.siteId,
      s.uuid ?? null,
      s.serial ?? null,
      arch,
      now,
      now,
      now,
    ),
  );
  if (row) return { machine: { ...row }, discovered: row.created_at === now && row.state === 'discovered' && row.site_id === s.siteId };
  const other = await getMachineByMac(db, s.mac);
  if (!other) throw new Error(`machine ${s.mac} neither inserted nor found`);
  return { machine: other, discovered: false };
}

/**
 * Assignments made for a MAC before its machine existed now belong to it and its site, exactly as
 * when a person creates the machine (routes/machines.ts): they become scoped and cascade with it.
 */
export function adoptPendingAssignments(m: MachineRow): SqlStatement {
  return sql(
    "UPDATE assignments SET machine_id = ?, site_id = COALESCE(?, site_id) WHERE machine_id IS NULL AND json_extract(selector, '$.mac') = ?",
    m.id,
    m.site_id,
    m.mac,
  );
}
