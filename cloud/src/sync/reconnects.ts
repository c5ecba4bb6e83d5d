/**
 * Relays that reconnect in a tight loop (a bug, a proxy cutting every long-poll at once, a script
 * without `wait`) are told to come back later instead of costing a snapshot each time: more than
 * MAX_REQUESTS sync requests of one relay within WINDOW_MS get 429 with Retry-After (the relay
 * honours it, relay/src/sync/). A healthy relay makes one request per change or per wait (≤ 30 s).
 */
export const RECONNECT_WINDOW_MS = 10_000;
export const RECONNECT_MAX_REQUESTS = 20;

export class ReconnectLimiter {
  /** Per relay, the times of its admitted requests within the window, oldest first. */
  private readonly seen = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  /** null when the request may go on; else the seconds until the relay's window has room again. */
  admit(relayId: string): number | null {
    const now = this.now();
    let times = this.seen.get(relayId);
    if (!times) this.seen.set(relayId, (times = []));
    while (times.length > 0 && times[0]! <= now - RECONNECT_WINDOW_MS) times.shift();
    if (times.length >= RECONNECT_MAX_REQUESTS) return Math.max(1, Math.ceil((times[0]! + RECONNECT_WINDOW_MS - now) / 1000));
    times.push(now);
    return null;
  }

  /** Forgets relays with nothing in their window. */
  sweep(): void {
    const now = this.now();
    for (const [id, times] of this.seen) if (times.length === 0 || times[times.length - 1]! <= now - RECONNECT_WINDOW_MS) this.seen.delete(id);
  }
}
