import { RelaySnapshot, RelaySnapshotDelta } from '../../../shared/schemas/relay-sync.ts';
import { checkDelta } from '../../../shared/sync/delta.ts';
import { SYNC_FEATURES, SYNC_FEATURES_HEADER } from '../../../shared/sync/features.ts';
import type { Logger } from '../log.ts';
import { backoffMs, sleep as realSleep } from './backoff.ts';
import { header, type CloudClient } from './cloud-client.ts';
import { retryAfterMs } from './retry-after.ts';
import { fetchRemainingPages } from './snapshot-pages.ts';
import type { SnapshotStore } from './snapshot-store.ts';
import { nativeSha256Hex } from './native-sha256.ts';

export interface SyncClientOptions {
  client: CloudClient;
  store: SnapshotStore;
  log: Logger;
  /** Long-poll length asked of the cloud (it caps it at 30 s). */
  waitSeconds?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Times a paged fetch starts over after its version went away (410) before waiting for the next round. */
  pageRestarts?: number;
  /** Waits `ms` (false when the signal aborted first); tests pass one that records the waits. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<boolean>;
  random?: () => number;
  now?: () => number;
}

/** What one exchange came to: whether the held snapshot is current, and how long the cloud asked us to stay away. */
export interface SyncOutcome {
  ok: boolean;
  /** From a 429 or 503 `Retry-After`, in ms (capped); null when the cloud named no wait. */
  retryAfterMs: number | null;
}

/** One request's result, before the exchange decides what to do next. */
type Step =
  | { kind: 'ok' }
  | { kind: 'failed'; retryAfterMs: number | null }
  /** A delta this relay cannot use: ask again without If-None-Match, for the full snapshot. */
  | { kind: 'ask-full' }
  /** The paged snapshot's version went away mid-fetch (410): start over. */
  | { kind: 'gone' };

const FAILED: Step = { kind: 'failed', retryAfterMs: null };

/**
 * Keeps the snapshot current: `GET /v1/relay/sync?wait=25` with If-None-Match, so the cloud holds
 * the request until the site changes (a change reaches the relay within about a second) and answers
 * 304 otherwise. The answer is the full snapshot, a delta against the held one (issue 16; applied
 * only when it hashes to the version it announces), or the first page of a large snapshot (the rest
 * fetched page by page and installed only when complete). When the cloud is down or refuses, it waits
 * as long as the cloud's Retry-After says, else a jittered backoff, while the DHCP loop keeps
 * answering from the last good snapshot: nothing partial or unverified is ever installed.
 */
export class SyncClient {
  readonly #o: SyncClientOptions;
  readonly #stop = new AbortController();
  readonly #sleep: NonNullable<SyncClientOptions['sleep']>;
  readonly #now: () => number;
  #loop: Promise<void> | undefined;
  failures = 0;
  /** Snapshots installed (full, paged or from a delta). */
  syncs = 0;
  /** Of those, from a delta. */
  deltas = 0;
  /** Full snapshots asked for because a delta could not be used. */
  fullRefetches = 0;

  constructor(o: SyncClientOptions) {
    this.#o = o;
    this.#sleep = o.sleep ?? realSleep;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** One exchange; true when the cloud answered with a usable 200 or 304. */
  async syncOnce(wait: number | null, signal?: AbortSignal): Promise<boolean> {
    return (await this.exchange(wait, signal)).ok;
  }

  /**
   * One exchange, including what it takes to end with a usable snapshot: a full fetch after a delta
   * that does not fit, and a bounded number of restarts of a paged fetch whose version went away.
   */
  async exchange(wait: number | null, signal?: AbortSignal): Promise<SyncOutcome> {
    const { log } = this.#o;
    const maxRestarts = this.#o.pageRestarts ?? 3;
    let full = false;
    let restarts = 0;
    for (;;) {
      const step = await this.#ask(full ? 'full' : wait, signal);
      if (step.kind === 'ok') return { ok: true, retryAfterMs: null };
      if (step.kind === 'failed') return { ok: false, retryAfterMs: step.retryAfterMs };
      if (step.kind === 'ask-full') {
        if (full) return { ok: false, retryAfterMs: null };
        full = true;
        this.fullRefetches++;
        continue;
      }
      restarts++;
      if (restarts > maxRestarts) {
        log.once('sync-pages-gone', 'the snapshot kept changing while its pages were fetched; keeping the last one until the next round', { restarts: maxRestarts });
        return { ok: false, retryAfterMs: null };
      }
      if (!(await this.#sleep(this.#backoff(restarts - 1), signal))) return { ok: false, retryAfterMs: null };
      // Start over at once: a long-poll would only be answered with the newer snapshot anyway.
      wait = null;
    }
  }

  /** One sync request: `full` asks without If-None-Match (no delta, no long-poll). */
  async #ask(mode: number | null | 'full', signal?: AbortSignal): Promise<Step> {
    const { client, store, log } = this.#o;
    const etag = mode === 'full' ? null : store.etag;
    const query = etag && mode !== null && mode !== 'full' ? `?wait=${mode}` : '';
    const wait = typeof mode === 'number' ? mode : 0;
    const res = await client.json({
      method: 'GET',
      path: `/v1/relay/sync${query}`,
      headers: { [SYNC_FEATURES_HEADER]: SYNC_FEATURES.join(', '), ...(etag ? { 'if-none-match': etag } : {}) },
      headersTimeoutMs: (wait + 15) * 1000,
      retry: false,
      signal,
    });
    if (res.status === 304) {
      if (!etag) {
        log.once('sync-304-unasked', 'the cloud answered 304 to a request without If-None-Match; keeping the last snapshot');
        return FAILED;
      }
      store.confirm();
      return { kind: 'ok' };
    }
    if (res.status === 200) return this.#take(res.body, header(res.headers, 'etag'), mode === 'full', signal);
    const ra = res.status === 429 || res.status === 503 ? retryAfterMs(header(res.headers, 'retry-after'), this.#now()) : null;
    log.once(`sync-${res.status}`, 'the cloud refused the sync request', { status: res.status, retryAfterMs: ra, body: JSON.stringify(res.body)?.slice(0, 300) });
    return { kind: 'failed', retryAfterMs: ra };
  }

  /** A 200 body: a delta (it has `base`), a whole snapshot, or the first page of one (it has `next`). */
  async #take(body: unknown, etag: string | undefined, askedFull: boolean, signal?: AbortSignal): Promise<Step> {
    const { client, store, log } = this.#o;
    if (typeof body === 'object' && body !== null && 'base' in body) {
      const parsed = RelaySnapshotDelta.safeParse(body);
      if (!parsed.success) {
        log.once('sync-invalid', 'the cloud sent a delta this relay cannot read; keeping the last snapshot', { issue: parsed.error.issues[0]?.message });
        return FAILED;
      }
      const delta = parsed.data;
      const held = store.snapshot;
      if (askedFull) {
        log.once('sync-delta-unasked', 'the cloud sent a delta to a request for the full snapshot; keeping the last one', { base: delta.base });
        return FAILED;
      }
      if (!held || held.version !== delta.base) {
        log.once('sync-delta-base', 'the cloud sent a delta against a snapshot this relay does not hold; asking for the full one', { base: delta.base, held: held?.version ?? null });
        return { kind: 'ask-full' };
      }
      const checked = checkDelta(held, delta, nativeSha256Hex);
      if (!checked.snapshot) {
        log.once('sync-delta-rejected', 'a delta from the cloud did not lead to the version it announced; asking for the full snapshot', { reason: checked.rejected, version: delta.version });
        return { kind: 'ask-full' };
      }
      await this.#install(checked.snapshot, 'delta', etag);
      this.deltas++;
      return { kind: 'ok' };
    }

    const parsed = RelaySnapshot.safeParse(body);
    if (!parsed.success) {
      log.once('sync-invalid', 'the cloud sent a snapshot this relay cannot read; keeping the last one', { issue: parsed.error.issues[0]?.message });
      return FAILED;
    }
    const { next, ...whole } = parsed.data;
    if (next === undefined) {
      await this.#install(whole, 'full', etag);
      return { kind: 'ok' };
    }
    const pages = await fetchRemainingPages(client, parsed.data, { signal, now: this.#now });
    if (pages.kind === 'gone') return { kind: 'gone' };
    if (pages.kind === 'failed') {
      log.once('sync-pages', 'could not fetch the whole paged snapshot; keeping the last one', { reason: pages.reason, status: pages.status, version: whole.version });
      return { kind: 'failed', retryAfterMs: pages.retryAfterMs };
    }
    await this.#install(pages.snapshot, 'pages', etag);
    return { kind: 'ok' };
  }

  /** Installs at once (DHCP decides from it from now on); resolves when it is also on disk. */
  async #install(s: RelaySnapshot, via: 'full' | 'delta' | 'pages', etag: string | undefined): Promise<void> {
    const { store, log } = this.#o;
    if (s.version !== store.snapshot?.version) log.info('snapshot updated', { version: s.version, machines: s.machines.length, via, etag });
    store.replace(s);
    this.syncs++;
    await store.saved();
  }

  #backoff(attempt: number): number {
    return backoffMs(attempt, this.#o.backoffBaseMs ?? 1_000, this.#o.backoffCapMs ?? 30_000, this.#o.random) + 250;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const wait = this.#o.waitSeconds ?? 25;
    const random = this.#o.random ?? Math.random;
    while (!signal.aborted) {
      let outcome: SyncOutcome = { ok: false, retryAfterMs: null };
      try {
        outcome = await this.exchange(wait, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.#o.log.once('sync-unreachable', 'cannot sync: cloud unreachable; answering from the last snapshot', { err });
      }
      this.failures = outcome.ok ? 0 : this.failures + 1;
      if (outcome.ok) continue;
      // Retry-After is a floor; up to a second of jitter on top keeps relays told the same value apart.
      const delay = outcome.retryAfterMs !== null ? outcome.retryAfterMs + Math.floor(random() * 1_000) : this.#backoff(this.failures);
      if (!(await this.#sleep(delay, signal))) break;
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop?.catch(() => undefined);
  }
}
