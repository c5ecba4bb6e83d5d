import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { auditRest } from './audit.ts';
import { authenticate, requireAuth } from './auth/authenticate.ts';
import { principalCache } from './auth/principal-cache.ts';
import { confineRelayTokens } from './auth/confine.ts';
import { consoleRoutes } from './console/routes.tsx';
import type { AppDeps, AppEnv } from './context.ts';
import { AppError, toAppError } from './errors.ts';
import { SqlConstraintError } from './ports/sql-database.ts';
import { assignmentRoutes } from './routes/assignments.ts';
import { auditRoutes } from './routes/audit.ts';
import { callbackRoutes } from './routes/callbacks.ts';
import { directBootRoutes, machineBootRoutes, relayBootRoutes } from './routes/boot.ts';
import { fileRoutes } from './routes/files.ts';
import { imageRoutes } from './routes/images.ts';
import { machineRoutes } from './routes/machines.ts';
import { machinePowerRoutes, powerJobRoutes, relayPowerRoutes } from './routes/power-jobs.ts';
import { profileRoutes } from './routes/profiles.ts';
import { relayEventRoutes } from './routes/relay-events.ts';
import { relaySelfRoutes } from './routes/relay-self.ts';
import { relaySyncRoutes } from './routes/relay-sync.ts';
import { relayRoutes } from './routes/relays.ts';
import { relayInstallRoutes, relayReleaseRoutes, relayUpdateRoutes } from './routes/relay-releases.ts';
import { signingKeyRoutes } from './routes/signing-keys.ts';
import { siteRoutes } from './routes/sites.ts';
import { timelineRoutes } from './routes/timeline.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import type { WebhookDeps } from './ports/webhook-dispatch.ts';
import { kickWebhooks } from './webhooks/kick.ts';
import { httpMetrics, requestRecorder, type ObservabilityDeps } from './observability/http-metrics.ts';
import { observabilityRoutes } from './observability/routes.ts';
import { dbRoundTrips, withCountedDatabase } from './observability/db-queries.ts';

/** JSON bodies are small; image bytes go through the upload routes, which stream and set their own limits. */
const JSON_BODY_LIMIT = 64 * 1024;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes that carry their own credential (an enrollment code, a signed URL…) instead of a bearer token. */
const PUBLIC_PATHS = /^\/v1\/relays\/enroll$|^\/v1\/relays\/install\.sh$|^\/v1\/relays\/packages\/|^\/v1\/files\/|^\/v1\/boot\//;
/** Image bytes: a whole image, or one part of a multipart upload. Their routes check Content-Length against their own limit. */
const STREAMING_PATHS = /^\/v1\/images\/[^/]+\/(content|uploads\/[^/]+\/parts\/[^/]+)$|^\/v1\/relay-releases\/[^/]+\/[^/]+\/[^/]+$/;

/**
 * The control plane as one Hono app, built only from injected dependencies, so the same code runs
 * on Workers, Deno and Node: entry files pick the adapters, nothing here knows the runtime.
 */
export function createApp(given: AppDeps & WebhookDeps & ObservabilityDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  // Every route's queries pass through one counter (/metrics: edgeboot_db_round_trips_total).
  const roundTrips = dbRoundTrips();
  const deps = withCountedDatabase(given, roundTrips);
  const principals = principalCache();
  const metrics = httpMetrics();
  const recordRequest = requestRecorder([metrics, ...(deps.requestObservers ?? [])]);

  app.use('*', async (c, next) => {
    const start = performance.now();
    c.set('deps', deps);
    c.set('principals', principals);
    // randomUUID draws from a buffered entropy pool on every runtime; getRandomValues per request did not.
    const requestId = `req_${crypto.randomUUID().replaceAll('-', '')}`;
    c.set('requestId', requestId);
    c.set('errorCode', undefined);
    // Set before the handler runs, so it is part of the response when it is built: a header added
    // afterwards makes Hono rebuild the Response, turning a string body into a stream (3x slower on Node).
    c.header('x-request-id', requestId);
    await next();
    // Counted and timed for /metrics here, in the first layer (observability/http-metrics.ts).
    recordRequest(c, start);
  });

  // Signed file URLs authenticate by their signature alone: mounted ahead of the bearer middleware,
  // so an Authorization header (even a bad one) is ignored and machines' downloads cost no token lookup.
  app.route('/v1/files', fileRoutes());

  const jsonLimit = bodyLimit({
    maxSize: JSON_BODY_LIMIT,
    onError: () => {
      throw new AppError('payload_too_large', `request body over ${JSON_BODY_LIMIT} bytes`);
    },
  });
  // Only methods with a body: on Node, touching a GET's body builds a full undici Request (measured).
  app.use('/v1/*', async (c, next) => (!BODY_METHODS.has(c.req.method) || STREAMING_PATHS.test(c.req.path) ? next() : jsonLimit(c, next)));
  app.use('/v1/*', auditRest());
  // After a write, webhook deliveries its triggers recorded may be due (webhooks/kick.ts).
  if (deps.webhooks) app.use('/v1/*', kickWebhooks(deps.webhooks));
  // Installers' callbacks carry a per-boot token, checked by their routes: mounted ahead of the bearer
  // middleware (which would refuse it as an unknown token), after the body limit and the audit.
  app.route('/v1/callback', callbackRoutes());
  app.use('/v1/*', authenticate());
  app.use('/v1/*', requireAuth(PUBLIC_PATHS));
  app.use('/v1/*', confineRelayTokens());

  app.route('/v1/sites', siteRoutes());
  app.route('/v1/machines', machineRoutes());
  app.route('/v1/machines', timelineRoutes());
  app.route('/v1/machines', machineBootRoutes());
  app.route('/v1/machines', machinePowerRoutes());
  app.route('/v1/power-jobs', powerJobRoutes());
  app.route('/v1/profiles', profileRoutes());
  app.route('/v1/assignments', assignmentRoutes());
  app.route('/v1/tokens', tokenRoutes());
  app.route('/v1/relays', relayInstallRoutes());
  app.route('/v1', relayRoutes());
  app.route('/v1/relay-releases', relayReleaseRoutes());
  app.route('/v1/relay', relaySelfRoutes());
  app.route('/v1/relay', relayUpdateRoutes());
  app.route('/v1/relay', relayEventRoutes());
  app.route('/v1/relay', relaySyncRoutes());
  app.route('/v1/relay', relayBootRoutes());
  app.route('/v1/relay', relayPowerRoutes());
  app.route('/v1/boot', directBootRoutes());
  app.route('/v1/audit', auditRoutes());
  app.route('/v1/images', imageRoutes());
  app.route('/v1/signing-keys', signingKeyRoutes());
  app.route('/v1/webhooks', webhookRoutes(deps.webhooks));

  // GET /healthz and GET /metrics: plain routes for load balancers and Prometheus (observability/routes.ts).
  app.route('/', observabilityRoutes(metrics, roundTrips));

  // The web console: plain Hono routes (not in the OpenAPI document) that call the routes above in process.
  app.route('/console', consoleRoutes((request, env) => app.fetch(request, env)));
  // Browsers opening the bare address land in the console; API clients keep the JSON 404.
  app.get('/', async (c, next) => ((c.req.header('accept') ?? '').includes('text/html') ? c.redirect('/console', 302) : next()));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'edgeboot control plane', version: '1', description: 'Sites, relays, machines, images, profiles and assignments.' },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  app.notFound((c) => {
    throw new AppError('not_found', `no route for ${c.req.method} ${c.req.path}`);
  });

  app.onError((err, c) => {
    const e = toAppError(err);
    if (e.status >= 500) console.error(JSON.stringify({ level: 'error', requestId: c.get('requestId'), error: String(err), stack: err.stack }));
    c.set('errorCode', e.code);
    const res = c.json(
      { error: { code: e.code, message: e.message, requestId: c.get('requestId') ?? 'none', ...(e.issues ? { issues: e.issues } : {}) } },
      e.status,
    );
    for (const [k, v] of Object.entries(e.headers ?? {})) res.headers.set(k, v);
    return res;
  });

  return app;
}

