import { ID_PREFIXES } from '../../../shared/ids.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { inventoryOf } from './inventory.ts';

export interface MachineRow {
  id: string;
  mac: string;
  site_id: string | null;
  uuid: string | null;
  serial: string | null;
  hostname: string | null;
  arch: Machine['arch'];
  labels: string;
  /** 1 on, 0 off, null unknown. */
  secure_boot: number | null;
  state: Machine['state'];
  created_at: number;
  updated_at: number;
  last_seen_at: number | null;
  /**
   * Migration 0010: the last inventory report (JSON), when, and the hw.* labels derived from it.
   * Optional: rows built in code for a machine not yet stored (explain, create) have none.
   */
  inventory?: string | null;
  inventory_at?: number | null;
  memory_bytes?: number | null;
  cpu_count?: number | null;
  hw_labels?: string;
}

export const toMachine = (r: MachineRow): Machine => ({
  id: r.id,
  mac: r.mac,
  siteId: r.site_id,
  uuid: r.uuid,
  serial: r.serial,
  hostname: r.hostname,
  arch: r.arch,
  labels: JSON.parse(r.labels) as Record<string, string>,
  secureBoot: secureBootOf(r),
  state: r.state,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
  lastSeenAt: iso(r.last_seen_at),
  inventory: inventoryOf(r),
});

/** The stored flag as the API and decideBoot see it. */
export function secureBootOf(r: Pick<MachineRow, 'secure_boot'>): boolean | null {
  return r.secure_boot === null || r.secure_boot === undefined ? null : r.secure_boot === 1;
}

/** The API's flag as stored. */
export const secureBootColumn = (v: boolean | null): number | null => (v === null ? null : v ? 1 : 0);

export function getMachineById(db: SqlDatabase, id: string): Promise<MachineRow | null> {
  return db.first<MachineRow>(sql('SELECT * FROM machines WHERE id = ?', id));
}

/** `mac` must be canonical; the UNIQUE index on machines.mac makes this one index probe. */
export function getMachineByMac(db: SqlDatabase, mac: string): Promise<MachineRow | null> {
  return db.first<MachineRow>(sql('SELECT * FROM machines WHERE mac = ?', mac));
}

const ID_PREFIX = `${ID_PREFIXES.machine}_`;

/**
 * The machine a path segment names: a machine id, or its MAC in any spelling the relay or an
 * operator may use (normalised here, so the lookup stays one equality on an index). Anything with
 * the id prefix is an id (unknown → 404); anything else that is not a MAC is bad input (400).
 */
export function findMachine(db: SqlDatabase, idOrMac: string): Promise<MachineRow | null> {
  if (idOrMac.startsWith(ID_PREFIX)) return getMachineById(db, idOrMac);
  const mac = normalizeMac(idOrMac);
  if (mac === null) {
    const message = 'neither a machine id (mch_…) nor a MAC address';
    throw new AppError('validation_failed', message, { issues: [{ path: 'idOrMac', message }] });
  }
  return getMachineByMac(db, mac);
}
