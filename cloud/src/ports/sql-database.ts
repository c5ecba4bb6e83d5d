/** A value SQLite and D1 both bind and return. */
export type SqlValue = string | number | null;

export interface SqlStatement {
  readonly sql: string;
  readonly params: readonly SqlValue[];
}

/** Builds a statement; `?` placeholders, positional params. */
export function sql(text: string, ...params: SqlValue[]): SqlStatement {
  return { sql: text, params };
}

/**
 * The relational store the routes need: SQLite (Node, Deno) and D1 (Workers) both implement it
 * with the same SQL, from the same migrations. Rows come back as plain objects keyed by column.
 */
export interface SqlDatabase {
  /** All rows of a query. */
  all<T = Record<string, SqlValue>>(statement: SqlStatement): Promise<T[]>;
  /** The first row of a query, or null. */
  first<T = Record<string, SqlValue>>(statement: SqlStatement): Promise<T | null>;
  /**
   * Runs the statements in order as one transaction: all take effect or none (D1 `batch()`). Each
   * later statement sees what the earlier ones wrote, and each gives back its rows, so one round
   * trip can write and then read what a request needs (boot/boot-inputs.ts).
   */
  batch(statements: readonly SqlStatement[]): Promise<SqlResult[]>;
}

/** What one statement of a batch gave back. */
export interface SqlResult {
  /** Rows the statement wrote (not counting those its triggers wrote); 0 for a read. */
  changes: number;
  /** Rows it returned: a query's, or a write's `RETURNING`; empty otherwise. */
  rows: Record<string, SqlValue>[];
}

/**
 * Adapters throw this when a statement breaks a UNIQUE, FOREIGN KEY or CHECK constraint, so the app
 * can answer 409 for a race that slipped past its own checks instead of a 500.
 */
export class SqlConstraintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlConstraintError';
  }
}

/** Recognises SQLite's constraint failures as both node:sqlite and D1 word them. */
export function isConstraintMessage(message: string): boolean {
  return /constraint failed|SQLITE_CONSTRAINT/i.test(message);
}
