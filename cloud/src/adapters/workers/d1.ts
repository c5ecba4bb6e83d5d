import { isConstraintMessage, SqlConstraintError, type SqlDatabase, type SqlStatement, type SqlValue } from '../../ports/sql-database.ts';

/**
 * SqlDatabase over a D1 binding. `db.batch()` runs its statements as one implicit transaction,
 * which is the atomicity the port promises; D1 has no BEGIN/COMMIT of its own to offer.
 */
export function d1Database(db: D1Database): SqlDatabase {
  const prepare = (s: SqlStatement) => db.prepare(s.sql).bind(...s.params);
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      // D1 words them "D1_ERROR: UNIQUE constraint failed: sites.name: SQLITE_CONSTRAINT".
      if (err instanceof Error && isConstraintMessage(err.message)) throw new SqlConstraintError(err.message);
      throw err;
    }
  };
  return {
    all: <T>(s: SqlStatement) => wrap(async () => (await prepare(s).all<T>()).results),
    first: <T>(s: SqlStatement) => wrap(async () => (await prepare(s).first<T>()) ?? null),
    batch: (statements) =>
      wrap(async () => {
        // D1 refuses an empty batch; nothing to run is nothing changed.
        if (statements.length === 0) return [];
        const results = await db.batch<Record<string, SqlValue>>(statements.map(prepare));
        // A read inside a write batch may report the previous write's count: only a statement that changed the database has changes.
        return results.map((r) => ({ changes: r.meta.changed_db ? (r.meta.changes ?? 0) : 0, rows: r.results ?? [] }));
      }),
  };
}
