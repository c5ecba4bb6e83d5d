import { canReadSite, type Principal } from '../auth/principal.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';

/** A body field that names something that does not exist: 400 with the field's path. */
export function invalidRef(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path}: ${message}`, { issues: [{ path, message }] });
}

/**
 * Checks that a body field names a site the caller can see. A site the caller cannot see answers
 * exactly like one that does not exist, so a reference cannot be used to probe other sites.
 */
export async function assertSiteRef(db: SqlDatabase, p: Principal, siteId: string, path: string): Promise<void> {
  const row = await db.first(sql('SELECT id FROM sites WHERE id = ?', siteId));
  if (!row || !canReadSite(p, siteId)) throw invalidRef(path, 'no such site');
}

/** Checks that a body field names an existing profile (profiles are a global catalog). */
export async function assertProfileRef(db: SqlDatabase, profileId: string, path: string): Promise<void> {
  const row = await db.first(sql('SELECT id FROM profiles WHERE id = ?', profileId));
  if (!row) throw invalidRef(path, 'no such profile');
}
