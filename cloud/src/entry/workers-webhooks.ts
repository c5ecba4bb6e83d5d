/**
 * Webhook delivery on Workers: one Durable Object, `WebhookDispatcher`, whose alarm runs the same
 * engine as Node and Deno over D1's outbox. Requests that changed something kick it (at most once a
 * second per isolate); the alarm delivers what is due, then sets itself for the next retry, and
 * every minute while a relay is online and someone listens for relay.offline (the sweep).
 *
 * Why a Durable Object's alarm and not a Queue: the outbox is already durable (D1 rows written by
 * triggers with the change), so a queue would only carry "look again" hints and still need a sweep
 * for retries and offline relays; an alarm is that sweep, fires to the second for the backoff
 * ladder, needs no `wrangler queues create`, and runs in local workerd where the tests drive it
 * (cloudflare:test runDurableObjectAlarm).
 */
import { DurableObject } from 'cloudflare:workers';
import { d1Database } from '../adapters/workers/d1.ts';
import { systemClock } from '../ports/clock.ts';
import type { WebhookDispatch } from '../ports/webhook-dispatch.ts';
import { nextDueAt, offlineSweepNeeded, runRound, type EngineDeps } from '../webhooks/engine.ts';
import { fetchWebhookTransport } from '../webhooks/fetch-transport.ts';
import { webhookSettings } from '../webhooks/settings.ts';
import type { Env } from './workers.ts';

const SWEEP_MS = 60_000;
const KICK_SPACING_MS = 1_000;

function engineDeps(env: Env): EngineDeps {
  return { db: d1Database(env.DB), clock: systemClock, transport: fetchWebhookTransport(), ...webhookSettings(env) };
}

export class WebhookDispatcher extends DurableObject<Env> {
  /** Deliver now: brings the alarm forward (an alarm already due or running is left alone). */
  async kick(): Promise<void> {
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    const deps = engineDeps(this.env);
    await runRound(deps);
    const now = Date.now();
    const next = await nextDueAt(deps.db);
    const wakes = [next === null ? null : Math.max(next, now + 1_000), (await offlineSweepNeeded(deps.db)) ? now + SWEEP_MS : null].filter((t): t is number => t !== null);
    if (wakes.length > 0) await this.ctx.storage.setAlarm(Math.min(...wakes));
  }
}

/** The port as the app sees it on Workers: kicks go to the one dispatcher object. */
export function durableObjectDispatch(ns: DurableObjectNamespace<WebhookDispatcher>, env: Env): WebhookDispatch {
  const { policy } = webhookSettings(env);
  let last = 0;
  return {
    policy,
    kick(waitUntil) {
      const now = Date.now();
      if (now - last < KICK_SPACING_MS) return;
      last = now;
      const work = ns
        .get(ns.idFromName('webhooks'))
        .kick()
        .catch((err: unknown) => console.error(JSON.stringify({ level: 'error', msg: 'webhook kick', error: String(err) })));
      waitUntil?.(work);
    },
  };
}
