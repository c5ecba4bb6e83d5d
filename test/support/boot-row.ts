import { newId } from '../../shared/ids.ts';
import { sha256Hex } from '../../cloud/src/auth/secrets.ts';
import { sql, type SqlDatabase } from '../../cloud/src/ports/sql-database.ts';

export interface BootRowSpec {
  machineId: string;
  siteId: string;
  /** The callback token; stored hashed, like the boot route does. */
  token: string;
  createdAt: number;
  expiresAt: number | null;
  state?: 'rendered' | 'started' | 'succeeded' | 'failed';
  assignmentId?: string | null;
  once?: boolean;
}

/**
 * A boots row written straight into the database, for in-process tests that need a boot in a given
 * state or with a given expiry without rendering a script first.
 */
export async function insertBootRow(db: SqlDatabase, s: BootRowSpec): Promise<string> {
  const id = newId('boot', s.createdAt);
  await db.batch([
    sql(
      `INSERT INTO boots (id, machine_id, site_id, assignment_id, once, callback_hash, callback_expires_at, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      s.machineId,
      s.siteId,
      s.assignmentId ?? null,
      s.once ? 1 : 0,
      sha256Hex(s.token),
      s.expiresAt,
      s.state ?? 'rendered',
      s.createdAt,
      s.createdAt,
    ),
  ]);
  return id;
}
