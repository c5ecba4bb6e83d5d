import { newId } from '../../../shared/ids.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { newSecret, sha256Hex } from './secrets.ts';

/**
 * On a first start with no tokens at all, creates an admin token and returns its secret so the entry
 * can print it once. Returns null when tokens already exist (nothing is ever printed twice).
 */
export async function createFirstAdminToken(db: SqlDatabase, now: number): Promise<string | null> {
  const any = await db.first(sql('SELECT id FROM tokens LIMIT 1'));
  if (any) return null;
  const secret = newSecret();
  await db.batch([
    sql(
      'INSERT INTO tokens (id, name, role, site_ids, relay_id, hash, prefix, created_by, created_at) VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, ?)',
      newId('token', now),
      'first-admin',
      'admin',
      await sha256Hex(secret),
      secret.slice(0, 8),
      'bootstrap',
      now,
    ),
  ]);
  return secret;
}
