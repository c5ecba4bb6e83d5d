import type { SqlDatabase, SqlStatement } from '../ports/sql-database.ts';
import type { Family } from './prometheus.ts';

/**
 * Database round trips, counted where every caller passes: one per `all`, `first` or `batch` call,
 * which on Workers is one network hop to D1 (a batch of many statements is still one). This is the
 * figure the fleet benchmark reads to tell an idle fleet's cost; per process on Node and Deno, per
 * isolate (and per Durable Object) on Workers.
 */
export interface DbRoundTrips {
  all: number;
  first: number;
  batch: number;
}

export function dbRoundTrips(): DbRoundTrips {
  return { all: 0, first: 0, batch: 0 };
}

/** The same database, counting its round trips into `counts`. */
export function countedDatabase(db: SqlDatabase, counts: DbRoundTrips): SqlDatabase {
  return {
    all<T>(statement: SqlStatement) {
      counts.all++;
      return db.all<T>(statement);
    },
    first<T>(statement: SqlStatement) {
      counts.first++;
      return db.first<T>(statement);
    },
    batch(statements: readonly SqlStatement[]) {
      counts.batch++;
      return db.batch(statements);
    },
  };
}

/**
 * `deps` as given, with its `db` counted: the same object underneath (a Proxy, not a copy), so what
 * is changed on it later — a rotated bootstrap secret, a database swapped in by a test — is what
 * requests see, and a swapped database is counted too.
 */
export function withCountedDatabase<D extends { db: SqlDatabase }>(deps: D, counts: DbRoundTrips): D {
  let countedFor: SqlDatabase | undefined;
  let counted: SqlDatabase | undefined;
  return new Proxy(deps, {
    get(target, key, receiver) {
      if (key !== 'db') return Reflect.get(target, key, receiver);
      if (target.db !== countedFor || counted === undefined) {
        countedFor = target.db;
        counted = countedDatabase(target.db, counts);
      }
      return counted;
    },
  });
}

export function dbRoundTripFamily(counts: DbRoundTrips, help = 'Database round trips of this process (on Workers: this isolate), by call (a batch counts once).'): Family {
  return {
    name: 'edgeboot_db_round_trips_total',
    type: 'counter',
    help,
    samples: (['all', 'first', 'batch'] as const).map((op) => ({ labels: { op }, value: counts[op] })),
  };
}
