import { RelaySnapshotPage, type RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import { snapshotVersion } from '../../../shared/sync/snapshot-version.ts';
import { header, type CloudClient } from './cloud-client.ts';
import { nativeSha256Hex } from './native-sha256.ts';
import { retryAfterMs } from './retry-after.ts';

/**
 * The rest of a paged snapshot (issue 16, shared/sync/paging.ts): `GET /v1/relay/sync/page` with the
 * cursor of each answer until it is null. Nothing is installed from here: the caller gets the whole
 * snapshot, checked against its version, or the reason there is none.
 */

/** A snapshot of a million machines at 5,000 a page; a cloud that keeps handing out cursors past that is broken. */
const MAX_PAGES = 200;

export type PagesResult =
  | { kind: 'complete'; snapshot: RelaySnapshot }
  /** 410: the version is no longer the site's current one; start over from the first page. */
  | { kind: 'gone' }
  | { kind: 'failed'; reason: string; status?: number; retryAfterMs: number | null };

export async function fetchRemainingPages(client: CloudClient, first: RelaySnapshot, opts: { signal?: AbortSignal; now?: () => number }): Promise<PagesResult> {
  const { next: firstCursor, ...whole } = first;
  const machines = [...whole.machines];
  let cursor: string | null = firstCursor ?? null;
  for (let pages = 1; cursor !== null; pages++) {
    if (pages > MAX_PAGES) return { kind: 'failed', reason: `more than ${MAX_PAGES} pages`, retryAfterMs: null };
    const res = await client.json({
      method: 'GET',
      path: `/v1/relay/sync/page?version=${encodeURIComponent(first.version)}&cursor=${encodeURIComponent(cursor)}`,
      // Not retried by the client: a 503's Retry-After is the sync loop's to honour.
      retry: false,
      signal: opts.signal,
    });
    if (res.status === 410) return { kind: 'gone' };
    if (res.status !== 200) {
      return { kind: 'failed', reason: 'page refused', status: res.status, retryAfterMs: retryAfterMs(header(res.headers, 'retry-after'), (opts.now ?? Date.now)()) };
    }
    const page = RelaySnapshotPage.safeParse(res.body);
    if (!page.success) return { kind: 'failed', reason: `unreadable page: ${page.error.issues[0]?.message}`, retryAfterMs: null };
    if (page.data.version !== first.version) return { kind: 'failed', reason: `a page of version ${page.data.version} while fetching ${first.version}`, retryAfterMs: null };
    if (page.data.next !== null && page.data.machines.length === 0) return { kind: 'failed', reason: 'an empty page that is not the last', retryAfterMs: null };
    for (const m of page.data.machines) machines.push(m);
    cursor = page.data.next;
  }
  const snapshot: RelaySnapshot = { ...whole, machines };
  if (snapshotVersion(snapshot, nativeSha256Hex) !== first.version) return { kind: 'failed', reason: 'the assembled pages do not hash to the announced version', retryAfterMs: null };
  return { kind: 'complete', snapshot };
}
