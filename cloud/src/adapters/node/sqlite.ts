import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { isConstraintMessage, SqlConstraintError, type SqlDatabase, type SqlResult, type SqlStatement, type SqlValue } from '../../ports/sql-database.ts';

/** The migrations folder shared with wrangler (D1). */
export const MIGRATIONS_DIR = new URL('../../../migrations/', import.meta.url).pathname;

/**
 * SqlDatabase over `node:sqlite` (Node ≥ 22.5, Deno 2). Statements run synchronously, so a batch
 * wrapped in BEGIN/COMMIT cannot interleave with another request's statements.
 */
export function openSqlite(path: string): SqlDatabase & { close(): void; raw: DatabaseSync } {
  const raw = new DatabaseSync(path);
  // WAL lets readers proceed while a write commits; foreign keys are on in D1 and must be here too.
  raw.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  const cache = new Map<string, ReturnType<DatabaseSync['prepare']>>();
  const prepare = (text: string) => {
    let stmt = cache.get(text);
    if (!stmt) {
      stmt = raw.prepare(text);
      cache.set(text, stmt);
    }
    return stmt;
  };
  const params = (s: SqlStatement) => s.params as SQLInputValue[];
  const returnsRows = new Map<string, boolean>();
  const totalChanges = () => Number(prepare('SELECT total_changes() AS n').get()!.n);
  /** One statement of a batch: `run` for a plain write (its own change count), `all` for anything with rows. */
  const step = (s: SqlStatement): SqlResult => {
    const stmt = prepare(s.sql);
    let rows = returnsRows.get(s.sql);
    if (rows === undefined) returnsRows.set(s.sql, (rows = stmt.columns().length > 0));
    if (!rows) return { changes: Number(stmt.run(...params(s)).changes), rows: [] };
    // A query changes nothing; a write with RETURNING does. total_changes() tells them apart (it also
    // counts triggers' rows), changes() gives the statement's own count, as `run` would.
    const before = totalChanges();
    const out = stmt.all(...params(s)).map((r) => ({ ...r }) as Record<string, SqlValue>);
    const changes = totalChanges() === before ? 0 : Number(prepare('SELECT changes() AS n').get()!.n);
    return { changes, rows: out };
  };
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Error && isConstraintMessage(err.message)) throw new SqlConstraintError(err.message);
      throw err;
    }
  };
  return {
    raw,
    close: () => raw.close(),
    async all<T>(s: SqlStatement): Promise<T[]> {
      return wrap(() => prepare(s.sql).all(...params(s)).map((r) => ({ ...r }) as T));
    },
    async first<T>(s: SqlStatement): Promise<T | null> {
      return wrap(() => {
        const row = prepare(s.sql).get(...params(s));
        return row ? ({ ...row } as T) : null;
      });
    },
    async batch(statements: readonly SqlStatement[]) {
      return wrap(() => {
        raw.exec('BEGIN IMMEDIATE');
        try {
          const out = statements.map(step);
          raw.exec('COMMIT');
          return out;
        } catch (err) {
          raw.exec('ROLLBACK');
          throw err;
        }
      });
    },
  };
}

/**
 * Applies pending migrations in file-name order and records each in `d1_migrations`, the table and
 * format wrangler uses for D1, so a database can move between the two and stay in step.
 */
export function migrateSqlite(raw: DatabaseSync, dir: string = MIGRATIONS_DIR): string[] {
  raw.exec(`CREATE TABLE IF NOT EXISTS d1_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
  )`);
  const done = new Set(raw.prepare('SELECT name FROM d1_migrations').all().map((r) => String(r.name)));
  const applied: string[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    if (done.has(name)) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    raw.exec('BEGIN IMMEDIATE');
    try {
      raw.exec(text);
      raw.prepare('INSERT INTO d1_migrations (name) VALUES (?)').run(name);
      raw.exec('COMMIT');
    } catch (err) {
      raw.exec('ROLLBACK');
      throw new Error(`migration ${name} failed: ${(err as Error).message}`);
    }
    applied.push(name);
  }
  return applied;
}
