import type { RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import { diffSnapshots } from '../../../shared/sync/delta.ts';
import { SYNC_PAGE_MACHINES } from '../../../shared/sync/paging.ts';
import type { DbRoundTrips } from '../observability/db-queries.ts';
import type { SqlDatabase } from '../ports/sql-database.ts';
import { sqlPowerJobQueue } from '../power/job-queue.ts';
import { ReconnectLimiter } from './reconnects.ts';
import { pageMachinesFor, type PageAnswer, type PageRequest, type SiteSync, type SiteSyncStats, type SyncAnswer, type SyncRequest } from './site-sync.ts';
import { etagOf, fullAnswer, loadSnapshot, matches, pageOf, versionOf } from './snapshots.ts';

/**
 * The relays' side of sync, without a runtime: Node and Deno run one in the process, Workers one
 * per shard of sites inside a Durable Object (entry/workers-sync.ts).
 *
 * Per site it keeps the current snapshot (computed once, hashed once) and the few before it (to
 * send deltas), and the relays waiting on it. Nothing polls the database: a waiting relay costs a
 * timer, and a site's snapshot is computed again only when a writer says the site changed
 * (`changed`), or when its cached copy is older than a long, jittered TTL — a backstop for a
 * notification that never came (a write from outside the app), not the mechanism. A change
 * recomputes each affected cached site once, however many relays wait on it, and wakes only those
 * whose version it changed: a profile edit ('all') that leaves Lyon's decisions as they were leaves
 * Lyon's relays asleep.
 */

export interface SiteSyncHubOptions {
  db: SqlDatabase;
  now: () => number;
  /** Counters `db` already counts into (observability/db-queries.ts), reported by stats(). */
  roundTrips?: DbRoundTrips;
  /** A cached snapshot is computed again after this long even without a change (default 10 minutes, ±20 %). */
  ttlMs?: number;
  /** Machines per page of a full snapshot (default SYNC_PAGE_MACHINES; smaller only in tests). */
  pageMachines?: number;
  /**
   * A site changed again while (or just after) it was computed is computed again no sooner than
   * this after the previous computation began (default 250 ms): a boot storm at a 5,000-machine site,
   * each boot teaching a machine's architecture, costs at most four computations a second instead of
   * one per boot. 0 in tests that count computations without waiting.
   */
  minRecomputeMs?: number;
  random?: () => number;
}

/** Earlier versions kept per site for deltas: a relay one or a few changes behind gets a delta. */
const HISTORY_VERSIONS = 3;
/** ...as long as they hold no more machines than this together (a 50,000-machine site keeps one). */
const HISTORY_MACHINES = 60_000;
const DEFAULT_TTL_MS = 10 * 60_000;
/** Sites computed together on a change to many ('all'). */
const CHANGE_BATCH = 16;
const DEFAULT_MIN_RECOMPUTE_MS = 250;
/** Sites nobody asked about for this long (and nobody waits on) are dropped from the cache. */
const SWEEP_EVERY_MS = 60_000;

interface SiteState {
  siteId: string;
  /** null: not loaded yet, or the site does not exist (then `loaded` tells). */
  current: RelaySnapshot | null;
  loaded: boolean;
  /** Earlier versions, newest first. */
  history: RelaySnapshot[];
  /** Set by `changed` before the recomputation runs, so a request meanwhile does not answer from the old copy. */
  stale: boolean;
  expiresAt: number;
  usedAt: number;
  refreshing: Promise<void> | null;
  again: boolean;
  /** performance.now() when the last computation began (the pacing of minRecomputeMs). */
  computedAt: number;
  waiters: Set<() => void>;
}

export class SiteSyncHub implements SiteSync {
  private readonly sites = new Map<string, SiteState>();
  /** Versions of every cached snapshot (current and history) → their site: tells a foreign version from a forgotten one. */
  private readonly versionSites = new Map<string, string>();
  private readonly jobWaiters = new Map<string, Set<() => void>>();
  private readonly reconnects: ReconnectLimiter;
  private readonly counts = { computed: 0, woken: 0, deltas: 0, fulls: 0, foreignVersions: 0, unknownVersions: 0, tooMany: 0 };
  private readonly ttlMs: number;
  private readonly pageMachines: number;
  private readonly minRecomputeMs: number;
  private readonly random: () => number;
  /** Recomputations told by `changed` that have not finished (settled() waits for them). */
  private readonly pending = new Set<Promise<void>>();
  private sweptAt: number;
  private readonly o: SiteSyncHubOptions;

  constructor(o: SiteSyncHubOptions) {
    this.o = o;
    this.ttlMs = o.ttlMs ?? DEFAULT_TTL_MS;
    this.pageMachines = o.pageMachines ?? SYNC_PAGE_MACHINES;
    this.minRecomputeMs = o.minRecomputeMs ?? DEFAULT_MIN_RECOMPUTE_MS;
    this.random = o.random ?? Math.random;
    this.reconnects = new ReconnectLimiter(o.now);
    this.sweptAt = o.now();
  }

  async sync(q: SyncRequest): Promise<SyncAnswer> {
    const refused = this.reconnects.admit(q.relayId);
    if (refused !== null) {
      this.counts.tooMany++;
      return { kind: 'too_many', retryAfterSeconds: refused };
    }
    this.sweep();
    const s = this.state(q.siteId);
    let current = await this.current(s);
    if (current && q.waitMs > 0 && matches(q.ifNoneMatch, etagOf(current.version))) {
      await this.waitForChange(s, q.waitMs);
      current = await this.current(s);
    }
    if (!current) return { kind: 'no_site' };
    const etag = etagOf(current.version);
    if (matches(q.ifNoneMatch, etag)) return { kind: 'unchanged', etag };
    const delta = q.features.includes('delta') ? this.deltaFor(s, current, versionOf(q.ifNoneMatch)) : null;
    if (delta) {
      this.counts.deltas++;
      return delta;
    }
    this.counts.fulls++;
    return fullAnswer(current, q.ifNoneMatch, pageMachinesFor(q.features, this.pageMachines));
  }

  async page(q: PageRequest): Promise<PageAnswer> {
    return pageOf(await this.current(this.state(q.siteId)), q, this.pageMachines);
  }

  /**
   * Marks the sites changed and starts their computation; resolves once the change is recorded, not
   * once it is computed, so the request that made the change (a boot, an edit) does not wait for a
   * snapshot it does not answer with. A relay that asks meanwhile gets the new snapshot (its site is
   * stale, so its request computes or joins the computation); its waiting relays are woken when the
   * computation ends.
   */
  async changed(scope: readonly string[] | 'all'): Promise<void> {
    const targets = scope === 'all' ? [...this.sites.values()] : scope.flatMap((id) => this.sites.get(id) ?? []);
    // Sites not cached need nothing: nobody waits on them, and their next request computes afresh.
    if (targets.length === 0) return;
    for (const s of targets) s.stale = true;
    const run = this.recompute(targets).finally(() => this.pending.delete(run));
    this.pending.add(run);
  }

  /** Resolves when every computation `changed` started has ended (tests and benchmarks). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async recompute(targets: SiteState[]): Promise<void> {
    for (let i = 0; i < targets.length; i += CHANGE_BATCH) {
      // Between batches, let other work in: on Node and Deno SQLite answers without yielding, so
      // 'all' over a thousand cached sites would otherwise hold the process for its whole length.
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      await Promise.all(targets.slice(i, i + CHANGE_BATCH).map((s) => this.refresh(s)));
    }
  }

  async jobsQueued(siteId: string): Promise<void> {
    for (const wake of this.jobWaiters.get(siteId) ?? []) wake();
  }

  async waitForJobs(siteId: string, waitMs: number): Promise<void> {
    let waiters = this.jobWaiters.get(siteId);
    if (!waiters) this.jobWaiters.set(siteId, (waiters = new Set()));
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, waitMs);
    waiters.add(resolve);
    try {
      // Listening before looking: a job queued between the look and the wait still wakes it.
      if (!(await sqlPowerJobQueue(this.o.db).hasQueued(siteId))) await promise;
    } finally {
      clearTimeout(timer);
      waiters.delete(resolve);
      if (waiters.size === 0) this.jobWaiters.delete(siteId);
    }
  }

  async stats(): Promise<SiteSyncStats> {
    let waiting = 0;
    for (const s of this.sites.values()) waiting += s.waiters.size;
    for (const w of this.jobWaiters.values()) waiting += w.size;
    return { roundTrips: this.o.roundTrips ? { ...this.o.roundTrips } : null, sites: this.sites.size, waiting, ...this.counts };
  }

  private state(siteId: string): SiteState {
    let s = this.sites.get(siteId);
    if (!s) {
      s = { siteId, current: null, loaded: false, history: [], stale: false, expiresAt: 0, usedAt: 0, refreshing: null, again: false, computedAt: Number.NEGATIVE_INFINITY, waiters: new Set() };
      this.sites.set(siteId, s);
    }
    s.usedAt = this.o.now();
    return s;
  }

  /** The cached snapshot, computed first when missing, marked changed, or past its TTL (after any computation under way). */
  private async current(s: SiteState): Promise<RelaySnapshot | null> {
    // A computation under way may be for a change already recorded (changed() returns before it
    // ends): wait for it, so no answer given after a change predates it.
    if (s.refreshing) await s.refreshing;
    if (!s.loaded || s.stale || this.o.now() >= s.expiresAt) await this.refresh(s);
    return s.current;
  }

  /**
   * Computes the site's snapshot again. Calls that arrive while one runs do not start another
   * alongside it: they ask for one more run after it (its reads may predate their change) and
   * share its promise.
   */
  private refresh(s: SiteState): Promise<void> {
    if (s.refreshing) {
      s.again = true;
      return s.refreshing;
    }
    const run = async () => {
      do {
        // Paced: a site computed a moment ago waits out the rest of minRecomputeMs, and the changes
        // told meanwhile are all in the one computation that follows.
        const wait = s.computedAt + this.minRecomputeMs - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        s.computedAt = performance.now();
        s.again = false;
        s.stale = false;
        let next: RelaySnapshot | null;
        try {
          next = await loadSnapshot(this.o.db, s.siteId);
        } catch (err) {
          // Keep the last good copy and try again on the next request; waiters stay until their time is up.
          s.stale = true;
          console.error(JSON.stringify({ level: 'error', msg: 'sync: snapshot computation failed', siteId: s.siteId, error: String(err) }));
          return;
        }
        this.counts.computed++;
        this.install(s, next);
      } while (s.again);
    };
    s.refreshing = run().finally(() => {
      s.refreshing = null;
    });
    return s.refreshing;
  }

  private install(s: SiteState, next: RelaySnapshot | null): void {
    const before = s.current;
    s.loaded = true;
    s.expiresAt = this.o.now() + this.ttlMs * (0.8 + 0.4 * this.random());
    if (before?.version === next?.version) return;
    if (before) {
      s.history.unshift(before);
      let machines = 0;
      const kept = s.history.filter((h, i) => i < HISTORY_VERSIONS && (machines += h.machines.length) <= HISTORY_MACHINES);
      for (const h of s.history) if (!kept.includes(h)) this.versionSites.delete(h.version);
      s.history = kept;
    }
    s.current = next;
    if (next) this.versionSites.set(next.version, s.siteId);
    this.counts.woken += s.waiters.size;
    for (const wake of [...s.waiters]) wake();
  }

  /** The delta from the relay's version to `current`, when that version is one of this site's remembered ones. */
  private deltaFor(s: SiteState, current: RelaySnapshot, base: string | null): SyncAnswer | null {
    if (base === null) return null;
    const old = s.history.find((h) => h.version === base);
    if (!old) {
      const owner = this.versionSites.get(base);
      if (owner !== undefined && owner !== s.siteId) {
        this.counts.foreignVersions++;
        console.warn(JSON.stringify({ level: 'warn', msg: 'sync_foreign_version', siteId: s.siteId, versionOf: owner }));
      } else this.counts.unknownVersions++;
      return null;
    }
    const delta = diffSnapshots(old, current);
    return delta ? { kind: 'delta', etag: etagOf(current.version), body: delta } : null;
  }

  private waitForChange(s: SiteState, waitMs: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(done, waitMs);
    function done() {
      clearTimeout(timer);
      s.waiters.delete(done);
      resolve();
    }
    s.waiters.add(done);
    return promise;
  }

  /** Drops sites nobody asked about for a TTL and nobody waits on, at most once a minute. */
  private sweep(): void {
    const now = this.o.now();
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [id, s] of this.sites) {
      if (s.waiters.size > 0 || s.refreshing || now - s.usedAt <= this.ttlMs) continue;
      this.sites.delete(id);
      for (const h of [s.current, ...s.history]) if (h) this.versionSites.delete(h.version);
    }
    this.reconnects.sweep();
  }
}
