/**
 * Simulated relays: each runs the relay's sync protocol (relay/src/sync) over its own keep-alive
 * connection, all in this one process. First `GET /v1/relay/sync` without a version (the full
 * snapshot), then `GET /v1/relay/sync?wait=N` with `If-None-Match: "<version>"`, again at once after
 * each 304 or 200; on 429/503 it waits `Retry-After` seconds; on anything else or a network error it
 * backs off a second. A 200 whose body has `base` is a delta: the relay takes its `version` (this
 * simulation keeps no machines, it measures when the answers come, not what is in them).
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';

export interface RelayCounts {
  requests: number;
  ok: number;
  notModified: number;
  tooMany: number;
  errors: number;
}

export interface Relay {
  token: string;
  etag: string | undefined;
}

export class RelayFleet {
  readonly counts: RelayCounts = { requests: 0, ok: 0, notModified: 0, tooMany: 0, errors: 0 };
  /** Called on every 200, with the relay's index and the time it arrived (performance.now()). */
  onSnapshot: (relay: number, atMs: number) => void = () => {};
  private readonly errors = new Map<string, number>();
  private readonly relays: Relay[];
  private readonly agent: Agent;
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];

  private readonly baseUrl: string;
  private readonly waitSeconds: number;

  constructor(baseUrl: string, tokens: string[], waitSeconds: number) {
    this.baseUrl = baseUrl;
    this.waitSeconds = waitSeconds;
    this.relays = tokens.map((token) => ({ token, etag: undefined }));
    // Every relay's request and back-off listens to the one stop signal.
    setMaxListeners(0, this.abort.signal);
    // One connection per relay, held across polls; generous timeouts beyond the long-poll's wait.
    this.agent = new Agent({
      connections: tokens.length + 16,
      pipelining: 1,
      keepAliveTimeout: (waitSeconds + 30) * 1000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: (waitSeconds + 60) * 1000,
      bodyTimeout: (waitSeconds + 60) * 1000,
    });
  }

  get size(): number {
    return this.relays.length;
  }

  /** How many relays hold a version. */
  synced(): number {
    return this.relays.filter((r) => r.etag !== undefined).length;
  }

  /** Starts the relays at `perSecond` (real relays do not all start in the same millisecond). */
  async start(perSecond: number): Promise<void> {
    for (let i = 0; i < this.relays.length; i++) {
      this.loops.push(this.loop(i));
      if ((i + 1) % Math.max(1, Math.round(perSecond / 20)) === 0) await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
    await this.agent.close().catch(() => {});
  }

  private async loop(i: number): Promise<void> {
    const r = this.relays[i]!;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      // As a relay of issue 16 asks: a change comes as a delta (50 machines fit one page).
      const headers: Record<string, string> = { authorization: `Bearer ${r.token}`, 'x-edgeboot-sync-features': 'delta, pages' };
      if (r.etag) headers['if-none-match'] = r.etag;
      const path = r.etag ? `/v1/relay/sync?wait=${this.waitSeconds}` : '/v1/relay/sync';
      this.counts.requests++;
      try {
        const res = await request(`${this.baseUrl}${path}`, { method: 'GET', headers, dispatcher: this.agent, signal });
        if (res.statusCode === 200) {
          const body = (await res.body.json()) as { version: string };
          r.etag = (res.headers.etag as string | undefined) ?? `"${body.version}"`;
          this.counts.ok++;
          this.onSnapshot(i, performance.now());
        } else if (res.statusCode === 304) {
          await res.body.dump();
          this.counts.notModified++;
        } else if (res.statusCode === 429 || res.statusCode === 503) {
          await res.body.dump();
          this.counts.tooMany++;
          const after = Number(res.headers['retry-after'] ?? 1);
          await sleep((Number.isFinite(after) ? after : 1) * 1000, signal);
        } else {
          const text = await res.body.text();
          this.fail(`${res.statusCode} ${text.slice(0, 120)}`);
          await sleep(1000, signal);
        }
      } catch (err) {
        if (signal.aborted) return;
        this.fail(String((err as Error).message ?? err));
        await sleep(1000, signal);
      }
    }
  }

  /** Failures so far, by status or message, with how often each happened. */
  relayErrors(): Map<string, number> {
    return new Map(this.errors);
  }

  private fail(what: string): void {
    this.counts.errors++;
    this.errors.set(what, (this.errors.get(what) ?? 0) + 1);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => {});
}
