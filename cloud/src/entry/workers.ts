/**
 * Workers entry: D1 for data, R2 for image bytes, an optional secret as the bootstrap admin token.
 * The only file that reads Workers bindings.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createApp } from '../app.ts';
import type { AppEnv } from '../context.ts';
import { systemClock } from '../ports/clock.ts';
import { d1Database } from '../adapters/workers/d1.ts';
import { r2ObjectStore } from '../adapters/workers/r2-object-store.ts';
import { adminTokenSetting } from './settings.ts';
import { durableObjectDispatch, type WebhookDispatcher } from './workers-webhooks.ts';
import { analyticsEngineObserver, loggedCountsObserver } from '../observability/workers-observers.ts';

import { durableObjectSiteSync, type SiteSync } from './workers-sync.ts';

export { WebhookDispatcher } from './workers-webhooks.ts';
export { SiteSync } from './workers-sync.ts';

export interface Env {
  DB: D1Database;
  IMAGES: R2Bucket;
  /** `wrangler secret put EDGEBOOT_ADMIN_TOKEN`; without it, create tokens with the API once one admin exists. */
  EDGEBOOT_ADMIN_TOKEN?: string;
  /** Webhook delivery (entry/workers-webhooks.ts); without the binding, webhooks are recorded but not sent. */
  WEBHOOKS?: DurableObjectNamespace<WebhookDispatcher>;
  /**
   * Relays' long-polls wait in these, one object per shard of sites (entry/workers-sync.ts). Required:
   * without it a relay's wait could only be held by polling D1 once a second per relay (issue 16).
   */
  SITE_SYNC: DurableObjectNamespace<SiteSync>;
  /** Vars, as the env vars of the Node entry (webhooks/settings.ts). */
  EDGEBOOT_WEBHOOK_ALLOW_NETS?: string;
  EDGEBOOT_WEBHOOK_ALLOW_HTTP?: string;
  EDGEBOOT_WEBHOOK_FIRST_RETRY_MS?: string;
  /**
   * Request counts and durations of every isolate (observability/workers-observers.ts). Optional:
   * without it each isolate logs its counts once a minute. /metrics shows only its own isolate's.
   */
  METRICS?: AnalyticsEngineDataset;
}

/**
 * One app per isolate and env: building the OpenAPI routes costs milliseconds, and the bindings
 * object is stable for the life of an isolate. A WeakMap keeps a fresh app should env ever change.
 */
const apps = new WeakMap<Env, OpenAPIHono<AppEnv>>();

function appFor(env: Env): OpenAPIHono<AppEnv> {
  let app = apps.get(env);
  if (!app) {
    // Every request fails with this until the binding is there: a deployment that lost it says why.
    if (!env.SITE_SYNC) throw new Error('the SITE_SYNC Durable Object binding is missing: deploy with wrangler.toml, which binds it');
    const db = d1Database(env.DB);
    app = createApp({
      db,
      objects: r2ObjectStore(env.IMAGES),
      clock: systemClock,
      // A malformed secret throws here, on every request, so the deployment fails loudly instead of trusting it.
      bootstrapAdminToken: adminTokenSetting(env.EDGEBOOT_ADMIN_TOKEN),
      webhooks: env.WEBHOOKS ? durableObjectDispatch(env.WEBHOOKS, env) : undefined,
      requestObservers: [env.METRICS ? analyticsEngineObserver(env.METRICS) : loggedCountsObserver(systemClock.now)],
      siteChanges: durableObjectSiteSync(env.SITE_SYNC, db),
    });
    apps.set(env, app);
  }
  return app;
}

export default {
  async fetch(request, env, ctx) {
    return appFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
