import { createApp } from '../../cloud/src/app.ts';
import { memoryObjectStore } from '../../cloud/src/adapters/memory-object-store.ts';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import type { AppDeps } from '../../cloud/src/context.ts';
import type { Clock } from '../../cloud/src/ports/clock.ts';
import { inProcessSiteSync } from '../../cloud/src/sync/in-process.ts';
import type { ApiTarget } from '../contract/target.ts';

/** A clock tests can move. */
export function manualClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms), set: (ms) => void (now = ms) };
}

/** The app in this process over an in-memory SQLite database and an in-memory object store. */
export function inProcessTarget(overrides: Partial<AppDeps> = {}): ApiTarget & { deps: AppDeps } {
  const db = openSqlite(':memory:');
  migrateSqlite(db.raw);
  const adminToken = 'ebt_inprocessadmintoken0000000000000';
  const clock = overrides.clock ?? { now: () => Date.now() };
  // The relays' sync hub, as the Node and Deno entries build it (cloud/src/sync/in-process.ts).
  const deps: AppDeps = { db, objects: memoryObjectStore(), clock, bootstrapAdminToken: adminToken, siteChanges: inProcessSiteSync({ db }), ...overrides };
  const app = createApp(deps);
  return { name: 'in-process', adminToken, deps, fetch: async (path, init) => app.request(path, init) };
}
