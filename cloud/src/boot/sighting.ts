import { archFromCode } from '../../../shared/boot/arch.ts';
import type { Arch } from '../../../shared/schemas/common.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';

export interface Sighting {
  mac: string;
  siteId: string;
  archCode?: number;
  uuid?: string;
  serial?: string;
}

/** The architecture option 93 names, or null for a code the arch table does not know. */
export function sightedArch(s: Sighting): Arch | null {
  return s.archCode === undefined ? null : (archFromCode(s.archCode)?.arch ?? null);
}

/**
 * Records that a machine asked to boot at a site, in one statement: an unknown MAC becomes a
 * `discovered` machine of that site with the facts the relay saw, under `newId`; a known one gets
 * `last_seen_at`, and uuid/serial/arch only when none was known (people's edits win over what
 * firmware says).
 *
 * A machine of another site is left untouched (the WHERE of the upsert): a relay may not rewrite
 * facts about machines it does not serve. Whichever happened, the machine is then read by MAC, and
 * it is new exactly when its id is `newId` (an existing machine keeps its own).
 */
export function sightingStatement(s: Sighting, newId: string, now: number): SqlStatement {
  return sql(
    `INSERT INTO machines (id, mac, site_id, uuid, serial, arch, labels, state, created_at, updated_at, last_seen_at)
     VALUES (?, ?, ?, ?, ?, ?, '{}', 'discovered', ?, ?, ?)
     ON CONFLICT(mac) DO UPDATE SET
       last_seen_at = excluded.last_seen_at,
       uuid = COALESCE(machines.uuid, excluded.uuid),
       serial = COALESCE(machines.serial, excluded.serial),
       arch = COALESCE(machines.arch, excluded.arch)
     WHERE machines.site_id IS NULL OR machines.site_id = excluded.site_id`,
    newId,
    s.mac,
    s.siteId,
    s.uuid ?? null,
    s.serial ?? null,
    sightedArch(s),
    now,
    now,
    now,
  );
}

/**
 * Assignments made for a MAC before its machine existed now belong to it and its site, exactly as
 * when a person creates the machine (routes/machines.ts): they become scoped and cascade with it.
 * Only when the sighting just created the machine (its id is `newId`); otherwise it changes nothing.
 * The machine is found first (CROSS JOIN keeps that order): a boot of a known machine must not walk
 * the fleet's site-wide assignments, which have no machine either.
 */
export function adoptPendingAssignments(mac: string, newId: string): SqlStatement {
  return sql(
    `UPDATE assignments SET machine_id = ?, site_id = COALESCE((SELECT site_id FROM machines WHERE id = ?), site_id)
      WHERE rowid IN (SELECT a.rowid FROM machines m CROSS JOIN assignments a
                       WHERE m.id = ? AND m.mac = ? AND a.machine_id IS NULL AND json_extract(a.selector, '$.mac') = m.mac)`,
    newId,
    newId,
    newId,
    mac,
  );
}
