import type { RelaySnapshot, RelaySnapshotDelta, RelaySnapshotPage } from '../../../shared/schemas/relay-sync.ts';
import { SYNC_PAGE_MACHINES } from '../../../shared/sync/paging.ts';
import type { SyncFeature } from '../../../shared/sync/features.ts';
import type { AppDeps } from '../context.ts';
import type { DbRoundTrips } from '../observability/db-queries.ts';
import type { SiteChanges } from '../ports/site-changes.ts';

/**
 * The relay-sync port: what the sync and power-jobs routes ask of whoever holds the relays' waits.
 * Node and Deno: one SiteSyncHub in the process (hub.ts). Workers: the SiteSync Durable Object of
 * the site's shard, which runs the same hub (entry/workers-sync.ts). Writers only see `changed`
 * (ports/site-changes.ts); the same object is the app's `siteChanges`.
 */
export interface SiteSync extends SiteChanges {
  /** The answer to one `GET /v1/relay/sync`: at once, or after waiting up to `waitMs` for the site to change. */
  sync(q: SyncRequest): Promise<SyncAnswer>;
  /** A later page of the site's current snapshot (`GET /v1/relay/sync/page`). */
  page(q: PageRequest): Promise<PageAnswer>;
  /** A power job was queued at the site: wake its relays' power-jobs long-polls. */
  jobsQueued(siteId: string): Promise<void>;
  /** Resolves when the site has a queued job (at once if it already has one) or after `waitMs`. */
  waitForJobs(siteId: string, waitMs: number): Promise<void>;
  /** Counters for benchmarks and operators (summed over the shards on Workers). */
  stats(): Promise<SiteSyncStats>;
}

export interface SyncRequest {
  siteId: string;
  relayId: string;
  /** The request's If-None-Match header, as sent. */
  ifNoneMatch: string | undefined;
  waitMs: number;
  /**
   * What the relay says it reads (x-edgeboot-sync-features). A relay released before issue 16 lists
   * nothing: it gets no delta and its site whole, however large, as it always did.
   */
  features: readonly SyncFeature[];
}

/** Machines per first page for a relay with these features: no paging for one that cannot follow `next`. */
export function pageMachinesFor(features: readonly SyncFeature[], pageMachines = SYNC_PAGE_MACHINES): number {
  return features.includes('pages') ? pageMachines : Number.POSITIVE_INFINITY;
}

export type SyncAnswer =
  /** The whole snapshot, or its first page (`next` set) when it is larger than a page. */
  | { kind: 'snapshot'; etag: string; body: RelaySnapshot }
  | { kind: 'delta'; etag: string; body: RelaySnapshotDelta }
  | { kind: 'unchanged'; etag: string }
  | { kind: 'no_site' }
  /** The relay reconnects in a tight loop: it should come back after this many seconds. */
  | { kind: 'too_many'; retryAfterSeconds: number };

export interface PageRequest {
  siteId: string;
  version: string;
  cursor: string;
}

export type PageAnswer =
  | { kind: 'page'; body: RelaySnapshotPage }
  /** That version is no longer the site's current one: the relay starts over. */
  | { kind: 'gone' }
  | { kind: 'bad_cursor'; message: string }
  | { kind: 'no_site' };

export interface SiteSyncStats {
  /** Database round trips of the hub(s) (null when the hub was given no counters). */
  roundTrips: DbRoundTrips | null;
  /** Sites whose snapshot is cached. */
  sites: number;
  /** Relay requests waiting right now (snapshot and power jobs). */
  waiting: number;
  /** Snapshots computed (a first load, a change, a TTL expiry). */
  computed: number;
  /** Waiting requests answered because their site's version changed. */
  woken: number;
  deltas: number;
  fulls: number;
  /** If-None-Match naming a version the hub knows as another site's. */
  foreignVersions: number;
  /** If-None-Match naming a version the hub does not know (forgotten, or from before a restart). */
  unknownVersions: number;
  /** Requests refused with 429 for reconnecting in a tight loop. */
  tooMany: number;
}

export function emptyStats(): SiteSyncStats {
  return { roundTrips: null, sites: 0, waiting: 0, computed: 0, woken: 0, deltas: 0, fulls: 0, foreignVersions: 0, unknownVersions: 0, tooMany: 0 };
}

/** Adds `b` into `a` (the Worker sums its shards' stats). */
export function addStats(a: SiteSyncStats, b: SiteSyncStats): SiteSyncStats {
  const rt = a.roundTrips || b.roundTrips ? { all: 0, first: 0, batch: 0 } : null;
  if (rt) for (const k of ['all', 'first', 'batch'] as const) rt[k] = (a.roundTrips?.[k] ?? 0) + (b.roundTrips?.[k] ?? 0);
  return {
    roundTrips: rt,
    sites: a.sites + b.sites,
    waiting: a.waiting + b.waiting,
    computed: a.computed + b.computed,
    woken: a.woken + b.woken,
    deltas: a.deltas + b.deltas,
    fulls: a.fulls + b.fulls,
    foreignVersions: a.foreignVersions + b.foreignVersions,
    unknownVersions: a.unknownVersions + b.unknownVersions,
    tooMany: a.tooMany + b.tooMany,
  };
}

/**
 * The app's SiteSync, when the entry gave one. AppDeps carries it as `siteChanges` (the writers'
 * view); the sync routes need the rest of it, so they recognise it by its `sync` method.
 */
export function siteSyncOf(deps: AppDeps): SiteSync | undefined {
  const s = deps.siteChanges as Partial<SiteSync> | undefined;
  return s && typeof s.sync === 'function' ? (s as SiteSync) : undefined;
}
