import type { WebhookDispatch } from '../ports/webhook-dispatch.ts';
import { attempt, claimDue, maintain, type EngineDeps } from './engine.ts';

/** How often the loop looks for due retries without a kick, and how often it does housekeeping. */
const TICK_MS = 1_000;
const MAINTAIN_MS = 15_000;
const KICK_MS = 50;

export interface InProcessWebhooks extends WebhookDispatch {
  start(): void;
  /** Stops taking deliveries and waits for the ones in flight (each bounded by the timeout). */
  stop(): Promise<void>;
}

/**
 * Delivery in the process of the Node and Deno entries: a loop over the outbox, woken by kicks
 * and by a one-second tick (retries falling due). Deliveries run concurrently up to the engine's
 * cap, one per webhook; a finished one frees its slot at once for the next. Everything it must not
 * forget is in the database, so a restart resumes where the last process left off.
 */
export function inProcessWebhooks(deps: EngineDeps): InProcessWebhooks {
  const inFlight = new Map<string, Promise<unknown>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let scanning = false;
  let again = false;
  let stopped = false;
  let lastMaintain = 0;
  let kickTimer: ReturnType<typeof setTimeout> | undefined;

  const scan = async () => {
    if (stopped) return;
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    try {
      do {
        again = false;
        const now = deps.clock.now();
        if (now - lastMaintain >= MAINTAIN_MS || lastMaintain === 0) {
          lastMaintain = now;
          await maintain(deps);
        }
        const claimed = await claimDue(deps, deps.settings.maxConcurrent - inFlight.size, new Set(inFlight.keys()));
        for (const d of claimed) {
          const p = attempt(deps, d)
            .catch((err: unknown) => console.error(JSON.stringify({ level: 'error', msg: 'webhook delivery', delivery: d.id, error: String(err) })))
            .finally(() => {
              inFlight.delete(d.webhook_id);
              void scan();
            });
          inFlight.set(d.webhook_id, p);
        }
      } while (again && !stopped);
    } catch (err) {
      // The database is busy or closing: the next tick tries again.
      console.error(JSON.stringify({ level: 'error', msg: 'webhook scan', error: String(err) }));
    } finally {
      scanning = false;
    }
  };

  return {
    policy: deps.policy,
    kick() {
      // Coalesced: a storm of writes (relay event batches) costs at most one outbox query per KICK_MS.
      if (stopped || kickTimer) return;
      kickTimer = setTimeout(() => {
        kickTimer = undefined;
        void scan();
      }, KICK_MS);
    },
    start() {
      if (timer) return;
      stopped = false;
      timer = setInterval(() => void scan(), TICK_MS);
      // Node: the server keeps the process alive, this timer must not.
      (timer as unknown as { unref?: () => void }).unref?.();
      void scan();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(kickTimer);
      timer = undefined;
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
