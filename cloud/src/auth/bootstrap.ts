import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { issueToken } from './issue-token.ts';

/**
 * On a first start with no tokens at all, creates an admin token and returns its secret so the entry
 * can print it once. Returns null when tokens already exist (nothing is ever printed twice).
 */
export async function createFirstAdminToken(db: SqlDatabase, now: number): Promise<string | null> {
  const any = await db.first(sql('SELECT id FROM tokens LIMIT 1'));
  if (any) return null;
  const { secret, insert } = await issueToken({ name: 'first-admin', role: 'admin', siteIds: null, createdBy: 'bootstrap' }, now);
  await db.batch([insert]);
  return secret;
}
