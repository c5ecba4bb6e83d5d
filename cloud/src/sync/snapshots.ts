import type { RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import { firstPage, pageAfter, SyncCursorError } from '../../../shared/sync/paging.ts';
import { snapshotVersionAsync } from '../../../shared/sync/snapshot-version.ts';
import { siteSnapshot } from '../boot/site-snapshot.ts';
import type { SqlDatabase } from '../ports/sql-database.ts';
import type { PageAnswer, PageRequest, SyncAnswer } from './site-sync.ts';

/**
 * A site's snapshot with its version (shared/sync/snapshot-version.ts, the hash the relay checks
 * deltas against), or null when the site does not exist. Five queries (boot/site-snapshot.ts).
 */
export async function loadSnapshot(db: SqlDatabase, siteId: string): Promise<RelaySnapshot | null> {
  const content = await siteSnapshot(db, siteId);
  return content ? { version: await snapshotVersionAsync(content), ...content } : null;
}

export const etagOf = (version: string): string => `"${version}"`;

/** RFC 9110 §13.1.2: If-None-Match compares weakly; `*` matches any current representation. */
export function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** The version a relay says it holds: a single entity tag (weak or strong); anything else names none. */
export function versionOf(ifNoneMatch: string | undefined): string | null {
  const m = ifNoneMatch === undefined ? null : /^\s*(?:W\/)?"([^",]{1,128})"\s*$/.exec(ifNoneMatch);
  return m ? m[1]! : null;
}

/** 304 for the relay's own version, else the whole snapshot (its first page when it is larger than one). */
export function fullAnswer(snapshot: RelaySnapshot, ifNoneMatch: string | undefined, pageMachines: number): SyncAnswer {
  const etag = etagOf(snapshot.version);
  if (matches(ifNoneMatch, etag)) return { kind: 'unchanged', etag };
  return { kind: 'snapshot', etag, body: firstPage(snapshot, pageMachines) };
}

/** A later page of `current` (the site's current snapshot, or null for no site). */
export function pageOf(current: RelaySnapshot | null, q: PageRequest, pageMachines: number): PageAnswer {
  if (!current) return { kind: 'no_site' };
  if (current.version !== q.version) return { kind: 'gone' };
  try {
    return { kind: 'page', body: pageAfter(current, q.cursor, pageMachines) };
  } catch (err) {
    if (err instanceof SyncCursorError) return { kind: 'bad_cursor', message: err.message };
    throw err;
  }
}

/**
 * The answer computed straight from the database, without a hub and without waiting: for the
 * Worker when its site's Durable Object fails or is evicted mid-wait (the relay polls again and
 * lands on a fresh object), and for apps built without relay sync.
 */
export async function directSync(db: SqlDatabase, siteId: string, ifNoneMatch: string | undefined, pageMachines: number): Promise<SyncAnswer> {
  const snapshot = await loadSnapshot(db, siteId);
  return snapshot ? fullAnswer(snapshot, ifNoneMatch, pageMachines) : { kind: 'no_site' };
}

export async function directPage(db: SqlDatabase, q: PageRequest, pageMachines: number): Promise<PageAnswer> {
  return pageOf(await loadSnapshot(db, q.siteId), q, pageMachines);
}
