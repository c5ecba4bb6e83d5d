import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import { sqlDatabaseContract } from './sql-database.contract.ts';

const memory = openSqlite(':memory:');
migrateSqlite(memory.raw);
sqlDatabaseContract('SQLite :memory:', () => memory);

// A file database takes the WAL path that :memory: skips.
const dir = mkdtempSync(join(tmpdir(), 'edgeboot-sql-'));
const file = openSqlite(join(dir, 'edgeboot.db'));
migrateSqlite(file.raw);
sqlDatabaseContract('SQLite file (WAL)', () => file);

afterAll(() => {
  memory.close();
  file.close();
  rmSync(dir, { recursive: true, force: true });
});
