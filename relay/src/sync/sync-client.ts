import { RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import type { Logger } from '../log.ts';
import { backoffMs, sleep } from './backoff.ts';
import { header, type CloudClient } from './cloud-client.ts';
import type { SnapshotStore } from './snapshot-store.ts';

export interface SyncClientOptions {
  client: CloudClient;
  store: SnapshotStore;
  log: Logger;
  /** Long-poll length asked of the cloud (it caps it at 30 s). */
  waitSeconds?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/**
 * Keeps the snapshot current: `GET /v1/relay/sync?wait=25` with If-None-Match, so the cloud holds
 * the request until the site changes (a change reaches the relay within about a second) and answers
 * 304 otherwise. When the cloud is down it retries with jittered backoff while the DHCP loop keeps
 * answering from the snapshot it has.
 */
export class SyncClient {
  readonly #o: SyncClientOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  failures = 0;
  syncs = 0;

  constructor(o: SyncClientOptions) {
    this.#o = o;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** One exchange; true when the cloud answered with a usable 200 or 304. */
  async syncOnce(wait: number | null, signal?: AbortSignal): Promise<boolean> {
    const { client, store, log } = this.#o;
    const etag = store.etag;
    const query = etag && wait !== null ? `?wait=${wait}` : '';
    const res = await client.json({
      method: 'GET',
      path: `/v1/relay/sync${query}`,
      headers: etag ? { 'if-none-match': etag } : {},
      headersTimeoutMs: ((wait ?? 0) + 15) * 1000,
      retry: false,
      signal,
    });
    if (res.status === 304) {
      store.confirm();
      return true;
    }
    if (res.status === 200) {
      const parsed = RelaySnapshot.safeParse(res.body);
      if (!parsed.success) {
        log.once('sync-invalid', 'the cloud sent a snapshot this relay cannot read; keeping the last one', { issue: parsed.error.issues[0]?.message });
        return false;
      }
      if (parsed.data.version !== store.snapshot?.version) log.info('snapshot updated', { version: parsed.data.version, machines: parsed.data.machines.length, etag: header(res.headers, 'etag') });
      store.replace(parsed.data);
      this.syncs++;
      return true;
    }
    log.once(`sync-${res.status}`, 'the cloud refused the sync request', { status: res.status, body: JSON.stringify(res.body).slice(0, 300) });
    return false;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const wait = this.#o.waitSeconds ?? 25;
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.syncOnce(wait, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.#o.log.once('sync-unreachable', 'cannot sync: cloud unreachable; answering from the last snapshot', { err });
      }
      this.failures = ok ? 0 : this.failures + 1;
      if (!ok && !(await sleep(backoffMs(this.failures, this.#o.backoffBaseMs ?? 1_000, this.#o.backoffCapMs ?? 30_000) + 250, signal))) break;
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop?.catch(() => undefined);
  }
}
