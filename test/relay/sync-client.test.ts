import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RelaySnapshot, RelaySnapshotDelta } from '../../shared/schemas/relay-sync.ts';
import { diffSnapshots } from '../../shared/sync/delta.ts';
import { parseSyncFeatures, SYNC_FEATURES_HEADER } from '../../shared/sync/features.ts';
import { firstPage, pageAfter, SyncCursorError } from '../../shared/sync/paging.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient, type CloudClient } from '../../relay/src/sync/cloud-client.ts';
import { SnapshotStore } from '../../relay/src/sync/snapshot-store.ts';
import { SyncClient, type SyncClientOptions } from '../../relay/src/sync/sync-client.ts';
import { machine, siteOf, snapshotOf } from '../unit/sync-fixtures.ts';
import { tempDir, until } from './support/relay-harness.ts';

/**
 * The relay's SyncClient against a TEST DOUBLE OF THE CLOUD: a small HTTP server on loopback that
 * speaks the relay sync protocol of issue 16 (deltas, pages, 410, 429) with the same shared code the
 * cloud uses (shared/sync/*). The real cloud's side of the protocol is being built at the same time,
 * and several cases here (a corrupted delta, a page of the wrong version) are answers a correct cloud
 * never gives; the double can be told to give them.
 */

interface Recorded {
  path: string;
  ifNoneMatch: string | undefined;
  features: string | undefined;
  /** performance.now() when the request arrived. */
  at: number;
  /** What the double answered: a status and, for 200, which kind of body. */
  answer?: string;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** JSON-encoded unless a string. */
  body?: unknown;
}

class CloudDouble {
  readonly requests: Recorded[] = [];
  readonly #history = new Map<string, RelaySnapshot>();
  #current: RelaySnapshot;
  #changed: Array<() => void> = [];
  /** Machines per page (the real SYNC_PAGE_MACHINES is 5,000; small pages keep the cases readable). */
  pageSize = 1_000;
  /** Answer a known If-None-Match with a delta when it is smaller (as the cloud does); off: always the full snapshot. */
  deltas = true;
  /** Answers for the next requests, tried in order before the protocol: return undefined to fall through. */
  readonly script: Array<(r: Recorded, self: CloudDouble) => Reply | undefined> = [];
  readonly #server: Server;
  url = '';

  constructor(initial: RelaySnapshot) {
    this.#current = initial;
    this.#history.set(initial.version, initial);
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  get current(): RelaySnapshot {
    return this.#current;
  }

  /** The site changes: held long-polls answer. */
  setCurrent(s: RelaySnapshot): void {
    this.#current = s;
    this.#history.set(s.version, s);
    for (const wake of this.#changed.splice(0)) wake();
  }

  /** The answer the protocol gives (issue 16 sync-design.md §2–4). */
  async protocol(r: Recorded, url: URL): Promise<Reply> {
    if (url.pathname === '/v1/relay/sync') {
      const held = r.ifNoneMatch?.replaceAll('"', '');
      const wait = Number(url.searchParams.get('wait') ?? 0);
      if (held === this.#current.version && wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(wait, 2) * 1000);
          this.#changed.push(() => (clearTimeout(timer), resolve()));
        });
      }
      if (held === this.#current.version) return { status: 304 };
      const base = held === undefined ? undefined : this.#history.get(held);
      const features = parseSyncFeatures(r.features);
      const delta = this.deltas && features.has('delta') && base && diffSnapshots(base, this.#current);
      if (delta) return { status: 200, body: delta };
      if (!features.has('pages')) return { status: 200, body: this.#current };
      return { status: 200, body: firstPage(this.#current, this.pageSize) };
    }
    if (url.pathname === '/v1/relay/sync/page') {
      if (url.searchParams.get('version') !== this.#current.version) return { status: 410, body: { error: { code: 'version_gone' } } };
      try {
        return { status: 200, body: pageAfter(this.#current, url.searchParams.get('cursor') ?? '', this.pageSize) };
      } catch (err) {
        if (err instanceof SyncCursorError) return { status: 400, body: { error: { code: 'bad_request', message: err.message } } };
        throw err;
      }
    }
    return { status: 404, body: { error: { code: 'not_found' } } };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r: Recorded = { path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'], features: req.headers[SYNC_FEATURES_HEADER] as string | undefined, at: performance.now() };
    this.requests.push(r);
    const url = new URL(req.url ?? '/', 'http://double');
    const scripted = this.script.length > 0 ? this.script.shift()!(r, this) : undefined;
    const reply = scripted ?? (await this.protocol(r, url));
    const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    r.answer = `${reply.status}${reply.status === 200 ? ` ${kindOf(reply.body)}` : ''}`;
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(body);
  }

  close(): Promise<void> {
    for (const wake of this.#changed.splice(0)) wake();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function kindOf(body: unknown): string {
  if (typeof body !== 'object' || body === null) return 'text';
  if ('base' in body) return 'delta';
  if ('siteId' in body) return 'next' in body ? 'first-page' : 'full';
  if ('next' in body) return 'page';
  return 'other';
}

interface Rig {
  cloud: CloudDouble;
  store: SnapshotStore;
  sync: SyncClient;
  client: CloudClient;
  lines: string[];
  sleeps: number[];
  path: string;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

/** A relay's store, client and SyncClient against a fresh cloud double; `sleep` records waits and returns at once unless overridden. */
async function rig(initial: RelaySnapshot, opts: Partial<SyncClientOptions> = {}): Promise<Rig> {
  const cloud = await new CloudDouble(initial).listen();
  open.push(() => cloud.close());
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const path = join(tempDir('sync-client'), 'snapshot.json');
  const store = new SnapshotStore(path, log);
  const client = createCloudClient({ baseUrl: cloud.url, token: 'ebr_test' });
  open.push(() => client.close());
  const sleeps: number[] = [];
  const sync = new SyncClient({
    client,
    store,
    log,
    sleep: async (ms) => (sleeps.push(ms), true),
    ...opts,
  });
  open.push(() => sync.stop());
  return { cloud, store, sync, client, lines, sleeps, path };
}

/** A rig whose relay already holds `initial`, fetched from the double; the request log starts empty. */
async function synced(initial: RelaySnapshot, opts?: Partial<SyncClientOptions>): Promise<Rig> {
  const r = await rig(initial, opts);
  expect(await r.sync.syncOnce(null)).toBe(true);
  expect(r.store.snapshot?.version).toBe(initial.version);
  r.cloud.requests.splice(0);
  r.lines.splice(0);
  return r;
}

const answers = (c: CloudDouble) => c.requests.map((r) => `${r.path.replace(/\?.*/, '')} ${r.answer}`);
const saved = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { snapshot: RelaySnapshot }).snapshot;

describe('SyncClient: deltas', () => {
  it('applies a delta against the held snapshot and persists the result', async () => {
    const { cloud, store, sync, path } = await synced(siteOf(200));
    const next = snapshotOf([...cloud.current.machines.map((m, i) => (i === 17 ? { ...m, netboot: ['uefi-arm64' as const] } : m)), machine(900)]);
    cloud.setCurrent(next);
    expect(await sync.syncOnce(0)).toBe(true);
    expect(answers(cloud)).toEqual(['/v1/relay/sync 200 delta']);
    expect(cloud.requests[0]!.ifNoneMatch).toBe(`"${siteOf(200).version}"`);
    expect(cloud.requests[0]!.features).toBe('delta, pages');
    expect(store.snapshot).toEqual(next);
    expect(saved(path)).toEqual(next);
    expect(sync.deltas).toBe(1);
    expect(store.netbootFor(next.machines[17]!.mac, 'uefi-arm64')).toBe(true);
    expect(store.netbootFor(next.machines[17]!.mac, 'bios')).toBe(false);
  });

  it('refuses a delta that does not lead to its announced version, logs it once, and fetches the full snapshot', async () => {
    const { cloud, store, sync, lines } = await synced(siteOf(200));
    const next = snapshotOf(cloud.current.machines.map((m, i) => (i === 5 ? { ...m, netboot: !m.netboot } : m)));
    const base = cloud.current;
    cloud.setCurrent(next);
    // A corrupted delta: the right version, a wrong entry.
    const corrupt = (): Reply => {
      const d = diffSnapshots(base, next)!;
      return { status: 200, body: { ...d, upsert: [{ ...d.upsert[0]!, arch: 'uefi-arm64' }] } satisfies RelaySnapshotDelta };
    };
    cloud.script.push(corrupt);
    expect(await sync.syncOnce(0)).toBe(true);
    expect(answers(cloud)).toEqual(['/v1/relay/sync 200 delta', '/v1/relay/sync 200 full']);
    expect(cloud.requests[1]!.ifNoneMatch).toBeUndefined();
    expect(cloud.requests[1]!.path).toBe('/v1/relay/sync');
    expect(store.snapshot).toEqual(next);
    expect(sync.deltas).toBe(0);
    expect(sync.fullRefetches).toBe(1);
    // The same fault again within the interval is not logged again.
    cloud.setCurrent(base);
    cloud.script.push(() => ({ status: 200, body: { ...diffSnapshots(next, base)!, version: next.version.replace(/^./, 'f') } }));
    expect(await sync.syncOnce(0)).toBe(true);
    expect(store.snapshot).toEqual(base);
    expect(lines.filter((l) => l.includes('did not lead to the version it announced'))).toHaveLength(1);
  });

  it('asks for the full snapshot when a delta is against a version it does not hold', async () => {
    const { cloud, store, sync, lines } = await synced(siteOf(200));
    const other = siteOf(150);
    const next = snapshotOf([...other.machines, machine(700)]);
    cloud.setCurrent(next);
    cloud.script.push(() => ({ status: 200, body: diffSnapshots(other, next)! }));
    expect(await sync.syncOnce(0)).toBe(true);
    expect(answers(cloud)).toEqual(['/v1/relay/sync 200 delta', '/v1/relay/sync 200 full']);
    expect(store.snapshot).toEqual(next);
    expect(lines.filter((l) => l.includes('a delta against a snapshot this relay does not hold'))).toHaveLength(1);
  });

  it('keeps the last snapshot when even the full answer is a delta it cannot use', async () => {
    const { cloud, store, sync } = await synced(siteOf(200));
    const before = store.snapshot;
    const next = snapshotOf([...cloud.current.machines, machine(999)]);
    const bad = { status: 200, body: { ...diffSnapshots(cloud.current, next)!, base: 'f'.repeat(32) } };
    cloud.setCurrent(next);
    cloud.script.push(() => bad, () => bad);
    expect(await sync.syncOnce(0)).toBe(false);
    expect(cloud.requests).toHaveLength(2);
    expect(store.snapshot).toBe(before);
  });
});

describe('SyncClient: pages', () => {
  it('assembles a snapshot sent as 3 pages and installs it whole, without next', async () => {
    const big = siteOf(25);
    const { cloud, store, sync, path } = await rig(big);
    cloud.pageSize = 10;
    expect(await sync.syncOnce(null)).toBe(true);
    expect(answers(cloud)).toEqual(['/v1/relay/sync 200 first-page', '/v1/relay/sync/page 200 page', '/v1/relay/sync/page 200 page']);
    expect(new URL(cloud.requests[1]!.path, 'http://x').searchParams.get('version')).toBe(big.version);
    expect(store.snapshot).toEqual(big);
    expect('next' in store.snapshot!).toBe(false);
    expect(saved(path)).toEqual(big);
  });

  it('starts over when the version goes away mid-paging (410), and installs the newer snapshot', async () => {
    const { cloud, store, sync, sleeps } = await synced(siteOf(5));
    cloud.pageSize = 10;
    cloud.deltas = false;
    const first = siteOf(25);
    const second = snapshotOf([...first.machines, machine(500)]);
    cloud.setCurrent(first);
    // The site changes after the first page went out: the next page request finds its version gone.
    cloud.script.push(
      () => undefined,
      (_r, self) => (self.setCurrent(second), undefined),
    );
    expect(await sync.syncOnce(0)).toBe(true);
    expect(answers(cloud)).toEqual([
      '/v1/relay/sync 200 first-page',
      '/v1/relay/sync/page 410',
      '/v1/relay/sync 200 first-page',
      '/v1/relay/sync/page 200 page',
      '/v1/relay/sync/page 200 page',
    ]);
    // The restart asks at once (no long-poll) after one backoff.
    expect(cloud.requests[2]!.path).toBe('/v1/relay/sync');
    expect(sleeps).toHaveLength(1);
    expect(store.snapshot).toEqual(second);
  });

  it('gives up after a few restarts with backoff and keeps the last snapshot', async () => {
    const { cloud, store, sync, sleeps, lines } = await synced(siteOf(5), { pageRestarts: 2, backoffBaseMs: 1_000, backoffCapMs: 30_000, random: () => 1 });
    const before = store.snapshot;
    cloud.pageSize = 10;
    cloud.deltas = false;
    cloud.setCurrent(siteOf(25));
    const gone = (r: Recorded) => (r.path.startsWith('/v1/relay/sync/page') ? { status: 410, body: { error: { code: 'version_gone' } } } : undefined);
    cloud.script.push(gone, gone, gone, gone, gone, gone);
    expect(await sync.exchange(0)).toEqual({ ok: false, retryAfterMs: null });
    expect(answers(cloud).filter((a) => a.endsWith('410'))).toHaveLength(3);
    expect(sleeps).toEqual([1_250, 2_250]); // growing: base·2^attempt (random 1) + 250
    expect(store.snapshot).toBe(before);
    expect(lines.filter((l) => l.includes('kept changing while its pages were fetched'))).toHaveLength(1);
  });

  it('never installs a partial snapshot when the cloud goes away mid-paging', async () => {
    const { cloud, store, sync, path } = await synced(siteOf(5));
    const before = store.snapshot;
    cloud.pageSize = 10;
    cloud.deltas = false;
    cloud.setCurrent(siteOf(25));
    cloud.script.push(() => undefined, () => ({ status: 200, body: '{"version":' })); // a body cut short
    expect(await sync.syncOnce(0)).toBe(false);
    await cloud.close();
    cloud.setCurrent(siteOf(30));
    await expect(sync.syncOnce(0)).rejects.toThrow(/unreachable/);
    expect(store.snapshot).toBe(before);
    expect(saved(path)).toEqual(before);
  });
});

describe('SyncClient: Retry-After', () => {
  it('does not come back before the Retry-After of a 429 (request times as the double saw them)', async () => {
    // Without Retry-After the backoff would be about 250 ms: base and cap of 1 ms.
    const { cloud, sync } = await rig(siteOf(3), { backoffBaseMs: 1, backoffCapMs: 1, sleep: undefined, random: () => 0 });
    cloud.script.push(() => ({ status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'too_many_requests' } } }));
    sync.start();
    await until('the request after the 429', () => cloud.requests.length >= 2);
    await sync.stop();
    expect(answers(cloud).slice(0, 2)).toEqual(['/v1/relay/sync 429', '/v1/relay/sync 200 full']);
    // The client's timer starts after it read the 429; a timer may fire a few ms early against performance.now().
    expect(cloud.requests[1]!.at - cloud.requests[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('waits as long as a 503\'s Retry-After date says, capped at 300 s, and backs off on its own without one', async () => {
    const now = Date.parse('2026-12-07T07:00:00Z');
    const waits: number[] = [];
    const { cloud, sync } = await rig(siteOf(3), { now: () => now, random: () => 0, backoffBaseMs: 1_000, sleep: async (ms) => (waits.push(ms), false) });
    cloud.script.push(() => ({ status: 503, headers: { 'retry-after': 'Mon, 07 Dec 2026 07:02:00 GMT' } }));
    sync.start();
    await until('the loop to wait', () => waits.length === 1);
    await sync.stop();
    expect(waits).toEqual([120_000]);

    expect(await sync.exchange(null)).toEqual({ ok: true, retryAfterMs: null });
    cloud.script.push(() => ({ status: 429, headers: { 'retry-after': '86400' } }));
    expect(await sync.exchange(0)).toEqual({ ok: false, retryAfterMs: 300_000 });
    cloud.script.push(() => ({ status: 503 }));
    expect(await sync.exchange(0)).toEqual({ ok: false, retryAfterMs: null });
  });

  it('honours the Retry-After of a 503 on a page request', async () => {
    const { cloud, store, sync } = await synced(siteOf(5));
    const before = store.snapshot;
    cloud.pageSize = 10;
    cloud.deltas = false;
    cloud.setCurrent(siteOf(25));
    cloud.script.push(() => undefined, () => ({ status: 503, headers: { 'retry-after': '7' } }));
    expect(await sync.exchange(0)).toEqual({ ok: false, retryAfterMs: 7_000 });
    expect(store.snapshot).toBe(before);
  });
});

describe('SyncClient: malformed answers', () => {
  const base = siteOf(30);
  const later = snapshotOf([...base.machines.slice(1), machine(800)]);

  it.each<[string, () => Reply[]]>([
    ['a body that is not JSON', () => [{ status: 200, body: 'oops <html>' }]],
    ['a snapshot without machines', () => [{ status: 200, body: { version: later.version, siteId: later.siteId, unknownMachines: later.unknownMachines } }]],
    ['a delta without upsert', () => [{ status: 200, body: { ...diffSnapshots(base, later)!, upsert: undefined } }]],
    ['a delta whose machines have no MAC', () => [{ status: 200, body: { ...diffSnapshots(base, later)!, upsert: [{ netboot: true }] } }]],
    ['a page of another version', () => [{ status: 200, body: firstPage(later, 10) }, { status: 200, body: { ...pageAfter(later, firstPage(later, 10).next!, 10), version: base.version } }]],
    ['an unreadable page', () => [{ status: 200, body: firstPage(later, 10) }, { status: 200, body: { version: later.version, machines: 'all of them', next: null } }]],
    ['pages that do not add up to their version', () => [{ status: 200, body: firstPage(later, 10) }, { status: 200, body: { version: later.version, machines: later.machines.slice(10, 29), next: null } }]],
    ['an empty page that is not the last', () => [{ status: 200, body: firstPage(later, 10) }, { status: 200, body: { version: later.version, machines: [], next: firstPage(later, 10).next } }]],
    ['a 304 to a request without If-None-Match', () => []],
  ])('ignores %s and keeps the last snapshot', async (name, replies) => {
    const { cloud, store, sync, path } = await synced(base);
    const before = store.snapshot;
    cloud.setCurrent(later);
    for (const reply of replies()) cloud.script.push(() => reply);
    if (name.startsWith('a 304')) {
      // A delta the relay cannot use makes it ask without If-None-Match; the double then answers 304.
      cloud.script.push(() => ({ status: 200, body: { ...diffSnapshots(base, later)!, base: 'f'.repeat(32) } }), () => ({ status: 304 }));
    }
    expect(await sync.syncOnce(0)).toBe(false);
    expect(store.snapshot).toBe(before);
    expect(saved(path)).toEqual(before);
    // And the next good answer is taken as usual.
    expect(await sync.syncOnce(0)).toBe(true);
    expect(store.snapshot).toEqual(later);
  });
});

describe('SnapshotStore', () => {
  it('installs a snapshot it cannot save and logs that once', async () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const path = join(tempDir('sync-client'), 'snapshot.json');
    mkdirSync(path); // a directory where the file should go: the rename onto it fails
    const store = new SnapshotStore(path, log);
    const s = siteOf(3);
    store.replace(s);
    store.replace(siteOf(4));
    expect(store.snapshot).toEqual(siteOf(4));
    expect(store.netbootFor(s.machines[1]!.mac, 'bios')).toBe(true);
    await store.saved();
    expect(lines.filter((l) => l.includes('cannot save the snapshot'))).toHaveLength(1);
  });

  it('decides from a snapshot the moment it is installed, and saves the newest of a burst to disk off the loop', async () => {
    const path = join(tempDir('sync-client'), 'snapshot.json');
    const quiet = createLogger({ write: () => {} });
    const store = new SnapshotStore(path, quiet);
    const burst = [siteOf(2), siteOf(3), siteOf(4), siteOf(5)];
    for (const s of burst) {
      store.replace(s);
      // Installed before any write completes: the write happens on the thread pool, later.
      expect(store.snapshot).toEqual(s);
    }
    await store.saved();
    expect(saved(path)).toEqual(burst.at(-1));
    // A restarted relay reads back exactly the last one.
    expect(new SnapshotStore(path, quiet).snapshot).toEqual(burst.at(-1));
  });
});
