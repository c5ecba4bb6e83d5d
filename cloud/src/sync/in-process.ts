import { countedDatabase, dbRoundTrips } from '../observability/db-queries.ts';
import type { SqlDatabase } from '../ports/sql-database.ts';
import { SiteSyncHub } from './hub.ts';

/**
 * The hub of a single-process control plane (Node, Deno, tests): every relay of every site talks to
 * this process, so one hub sees every wait and every change. Its own round trips are counted apart
 * from the requests' (stats()) so an idle fleet's cost can be read. It keeps real time, not the
 * app's clock: its TTL, reconnect window and waits are about elapsed time (a test's frozen clock
 * would otherwise count every request of a relay into one window).
 */
export function inProcessSiteSync(o: { db: SqlDatabase; pageMachines?: number }): SiteSyncHub {
  const roundTrips = dbRoundTrips();
  return new SiteSyncHub({ db: countedDatabase(o.db, roundTrips), roundTrips, now: () => Date.now(), pageMachines: o.pageMachines });
}
