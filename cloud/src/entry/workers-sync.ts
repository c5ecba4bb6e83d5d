/**
 * Relay sync on Workers (issue 16). A Worker isolate cannot hold a relay's wait for another isolate's
 * write to end it, so the waits live in Durable Objects: `SiteSync`, one object per shard of sites,
 * each running the same hub as Node and Deno (sync/hub.ts) over D1. A relay's long-poll is forwarded
 * to its site's shard and waits there on a timer; a writer's `changed` goes to the shards of the sites
 * it names ('all': every shard); an idle fleet costs no D1 query at all, because each object answers
 * from its cached snapshots.
 *
 * Why shards and not one object per site: 'all' (a profile edit) must reach every object that may
 * cache a site; a fixed count keeps that at SYNC_SHARDS calls whatever the fleet's size. Why 16: one
 * object handles a few thousand waiting relays on timers; 16 spread 10,000 relays to ~600 each.
 *
 * An object that is evicted, restarted or fails mid-wait: the Worker answers that one request
 * straight from D1 (sync/snapshots.ts directSync: 200 or 304 at once) and the relay polls again,
 * landing on the fresh object. Its round trips: `SiteSync.stats()` (summed over the shards by
 * `durableObjectSiteSync(...).stats()`).
 */
import { DurableObject } from 'cloudflare:workers';
import { SYNC_PAGE_MACHINES } from '../../../shared/sync/paging.ts';
import { d1Database } from '../adapters/workers/d1.ts';
import { countedDatabase, dbRoundTrips } from '../observability/db-queries.ts';
import type { SqlDatabase } from '../ports/sql-database.ts';
import { SiteSyncHub } from '../sync/hub.ts';
import { addStats, emptyStats, pageMachinesFor, type PageAnswer, type PageRequest, type SiteSync as SiteSyncPort, type SiteSyncStats, type SyncAnswer, type SyncRequest } from '../sync/site-sync.ts';
import { directPage, directSync } from '../sync/snapshots.ts';
import type { Env } from './workers.ts';

export const SYNC_SHARDS = 16;

/** FNV-1a of the site id: stable across isolates and deploys (the shard of a site must not move while relays wait). */
export function shardOf(siteId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < siteId.length; i++) h = Math.imul(h ^ siteId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SYNC_SHARDS;
}

export class SiteSync extends DurableObject<Env> {
  private readonly hub: SiteSyncHub;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const roundTrips = dbRoundTrips();
    this.hub = new SiteSyncHub({ db: countedDatabase(d1Database(env.DB), roundTrips), roundTrips, now: () => Date.now() });
  }

  sync(q: SyncRequest): Promise<SyncAnswer> {
    return this.hub.sync(q);
  }

  page(q: PageRequest): Promise<PageAnswer> {
    return this.hub.page(q);
  }

  changed(scope: readonly string[] | 'all'): Promise<void> {
    return this.hub.changed(scope);
  }

  jobsQueued(siteId: string): Promise<void> {
    return this.hub.jobsQueued(siteId);
  }

  waitForJobs(siteId: string, waitMs: number): Promise<void> {
    return this.hub.waitForJobs(siteId, waitMs);
  }

  stats(): Promise<SiteSyncStats> {
    return this.hub.stats();
  }
}

const logFailure = (what: string, err: unknown, extra: Record<string, unknown> = {}) =>
  console.error(JSON.stringify({ level: 'error', msg: `sync: ${what} failed on its Durable Object`, ...extra, error: String(err) }));

/**
 * The port as the Worker's routes see it: each call goes to the shard of its site. `db` answers
 * when a shard fails (the Worker's own D1, uncounted by the shards).
 */
export function durableObjectSiteSync(ns: DurableObjectNamespace<SiteSync>, db: SqlDatabase): SiteSyncPort {
  const shard = (n: number) => ns.get(ns.idFromName(`sync:${n}`));
  const shardOfSite = (siteId: string) => shard(shardOf(siteId));
  const everyShard = () => Array.from({ length: SYNC_SHARDS }, (_, n) => shard(n));
  return {
    async sync(q) {
      try {
        return await shardOfSite(q.siteId).sync(q);
      } catch (err) {
        // Evicted or failed mid-wait: answer now from D1; the relay polls again and meets a fresh object.
        logFailure('sync', err, { siteId: q.siteId });
        return directSync(db, q.siteId, q.ifNoneMatch, pageMachinesFor(q.features));
      }
    },
    async page(q) {
      try {
        return await shardOfSite(q.siteId).page(q);
      } catch (err) {
        logFailure('page', err, { siteId: q.siteId });
        return directPage(db, q, SYNC_PAGE_MACHINES);
      }
    },
    async changed(scope) {
      const calls =
        scope === 'all'
          ? everyShard().map((s) => s.changed('all'))
          : Object.values(Object.groupBy(scope, shardOf)).map((sites) => shardOfSite(sites![0]!).changed(sites!));
      // Never throws (ports/site-changes.ts): a shard that missed it recomputes at its TTL, or anew when replaced.
      for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') logFailure('changed', r.reason);
    },
    async jobsQueued(siteId) {
      await shardOfSite(siteId)
        .jobsQueued(siteId)
        .catch((err: unknown) => logFailure('jobsQueued', err, { siteId }));
    },
    async waitForJobs(siteId, waitMs) {
      // A failed wait ends early: the route then claims what is queued, and the relay polls again.
      await shardOfSite(siteId)
        .waitForJobs(siteId, waitMs)
        .catch((err: unknown) => logFailure('waitForJobs', err, { siteId }));
    },
    async stats() {
      const all = await Promise.all(everyShard().map((s) => s.stats() as Promise<SiteSyncStats>));
      return all.reduce(addStats, emptyStats());
    },
  };
}
