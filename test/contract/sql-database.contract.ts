import { describe, expect, it } from 'vitest';
import { sql, SqlConstraintError, type SqlDatabase } from '../../cloud/src/ports/sql-database.ts';

/**
 * What the routes rely on from any SqlDatabase (SQLite on Node/Deno, D1 in workerd), over the real
 * schema of cloud/migrations. Imported inside workerd too: Web-standard APIs only. The database is
 * shared by the cases, so each one names its rows uniquely.
 */
export function sqlDatabaseContract(name: string, database: () => SqlDatabase): void {
  const uid = (p: string) => `${p}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  const insertSite = (id: string, siteName = id, profileId: string | null = null) =>
    sql(
      'INSERT INTO sites (id, name, description, default_profile_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      id,
      siteName,
      '',
      profileId,
      1_764_072_000_123,
      1_764_072_000_123,
    );
  const siteCount = async (db: SqlDatabase, ...ids: string[]) =>
    (await db.first<{ n: number }>(sql(`SELECT count(*) AS n FROM sites WHERE id IN (${ids.map(() => '?').join(',')})`, ...ids)))!.n;

  describe(`SqlDatabase — ${name}`, () => {
    it('returns rows as plain objects with numbers, strings and nulls as stored', async () => {
      const db = database();
      const id = uid('site');
      await db.batch([insertSite(id)]);
      const rows = await db.all(sql('SELECT id, created_at, default_profile_id, 7 AS seven, 1.5 AS half FROM sites WHERE id = ?', id));
      // Millisecond timestamps exceed 32 bits: they must come back as exact numbers, not strings or bigints.
      expect(rows).toEqual([{ id, created_at: 1_764_072_000_123, default_profile_id: null, seven: 7, half: 1.5 }]);
      expect(Object.keys(rows[0]!)).toEqual(['id', 'created_at', 'default_profile_id', 'seven', 'half']);
    });

    it('gives the first row, or null when nothing matches', async () => {
      const db = database();
      const [a, b] = [uid('site_a'), uid('site_b')];
      await db.batch([insertSite(a), insertSite(b)]);
      expect(await db.first(sql('SELECT id FROM sites WHERE id IN (?, ?) ORDER BY id DESC', a, b))).toEqual({ id: b });
      expect(await db.first(sql('SELECT id FROM sites WHERE id = ?', uid('none')))).toBeNull();
      expect(await db.all(sql('SELECT id FROM sites WHERE id = ?', uid('none')))).toEqual([]);
    });

    it('reports the rows each statement of a batch changed', async () => {
      const db = database();
      const [a, b] = [uid('site'), uid('site')];
      const out = await db.batch([
        insertSite(a),
        insertSite(b),
        sql('UPDATE sites SET description = ? WHERE id IN (?, ?)', 'both', a, b),
        sql('UPDATE sites SET description = ? WHERE id = ?', 'none', uid('missing')),
      ]);
      expect(out).toEqual([
        { changes: 1, rows: [] },
        { changes: 1, rows: [] },
        { changes: 2, rows: [] },
        { changes: 0, rows: [] },
      ]);
    });

    it('gives back the rows of each statement of a batch, later reads seeing earlier writes', async () => {
      const db = database();
      const [a, b] = [uid('site'), uid('site')];
      const out = await db.batch([
        sql('SELECT count(*) AS n FROM sites WHERE id IN (?, ?)', a, b),
        insertSite(a),
        sql("UPDATE sites SET description = 'seen' WHERE id = ? RETURNING id, description", a),
        sql("UPDATE sites SET description = 'never' WHERE id = ? RETURNING id", b),
        sql('SELECT id, description FROM sites WHERE id IN (?, ?) ORDER BY id', a, b),
      ]);
      expect(out).toEqual([
        { changes: 0, rows: [{ n: 0 }] },
        { changes: 1, rows: [] },
        { changes: 1, rows: [{ id: a, description: 'seen' }] },
        { changes: 0, rows: [] },
        // A read after writes in the same batch reports no changes of its own.
        { changes: 0, rows: [{ id: a, description: 'seen' }] },
      ]);
    });

    it('rolls back a batch that mixes reads and writes when a later statement fails', async () => {
      const db = database();
      const a = uid('site');
      const failing = db.batch([insertSite(a, a), sql('SELECT id FROM sites WHERE id = ?', a), insertSite(uid('site'), a)]);
      await expect(failing).rejects.toBeInstanceOf(SqlConstraintError);
      expect(await siteCount(db, a)).toBe(0);
    });

    it('rolls back the earlier statements of a batch when a later one fails', async () => {
      const db = database();
      const [a, b] = [uid('site'), uid('site')];
      const failing = db.batch([insertSite(a, a), insertSite(b, b), insertSite(uid('site'), a)]);
      await expect(failing).rejects.toBeInstanceOf(SqlConstraintError);
      expect(await siteCount(db, a, b)).toBe(0);
      // The database is usable afterwards: no transaction was left open.
      await db.batch([insertSite(a)]);
      expect(await siteCount(db, a, b)).toBe(1);
    });

    it('maps UNIQUE and FOREIGN KEY violations to SqlConstraintError', async () => {
      const db = database();
      const id = uid('site');
      await db.batch([insertSite(id)]);
      await expect(db.batch([insertSite(id, uid('other'))])).rejects.toBeInstanceOf(SqlConstraintError);
      // Foreign keys are enforced on D1, so SQLite must enforce them too.
      await expect(db.batch([insertSite(uid('site'), uid('name'), 'prf_does_not_exist')])).rejects.toBeInstanceOf(SqlConstraintError);
    });

    it('lets any other SQL error through as is', async () => {
      const db = database();
      const err = await db.all(sql('SELECT no_such_column FROM sites')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(SqlConstraintError);
    });

    it('runs JSON functions: json_each over a bound array', async () => {
      const db = database();
      const rows = await db.all<{ value: string | number }>(sql('SELECT value FROM json_each(?) ORDER BY key', JSON.stringify(['b', 'a', 3])));
      expect(rows.map((r) => r.value)).toEqual(['b', 'a', 3]);
      const obj = await db.first<{ v: string }>(sql("SELECT json_extract(?, '$.labels.rack') AS v", JSON.stringify({ labels: { rack: 'r12' } })));
      expect(obj).toEqual({ v: 'r12' });
    });

    it('refuses to update or delete audit rows', async () => {
      const db = database();
      const requestId = uid('req');
      await db.batch([
        sql(
          'INSERT INTO audit_log (at, actor, action, target, site_id, result, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          1,
          'tok_test',
          'POST /v1/sites',
          null,
          null,
          'ok',
          201,
          requestId,
        ),
      ]);
      await expect(db.batch([sql("UPDATE audit_log SET result = 'forged' WHERE request_id = ?", requestId)])).rejects.toThrow(/append-only/);
      await expect(db.batch([sql('DELETE FROM audit_log WHERE request_id = ?', requestId)])).rejects.toThrow(/append-only/);
      expect(await db.all(sql('SELECT result FROM audit_log WHERE request_id = ?', requestId))).toEqual([{ result: 'ok' }]);
    });
  });
}
