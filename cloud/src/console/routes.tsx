/** @jsxImportSource hono/jsx */
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Relay } from '../../../shared/schemas/access.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { auditStatement } from '../audit.ts';
import { AppError, toAppError } from '../errors.ts';
import type { AppFetch } from './api.ts';
import { assets } from './assets.ts';
import { FORM_UPLOAD_MAX, SignInPage } from './catalog-pages.tsx';
import { catalogRoutes } from './catalog-routes.tsx';
import { machineCounts, recentFailures } from './fleet.ts';
import { OverviewPage } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { html, kit, type C, type Page } from './kit.tsx';
import { machineRoutes } from './machines-pages.tsx';
import { relayRoutes } from './relays-pages.tsx';
import { csrfMatches, endSession, resolveSession, sameOrigin, signIn, type ConsoleEnv } from './session.ts';
import { firstStepsProgress, siteRoutes } from './sites-pages.tsx';
import { tokenRoutes } from './tokens-pages.tsx';
import { webhookRoutes } from './webhooks-pages.tsx';

/** Form posts are small; the spec of a profile with answer files is the largest (8 × 64 KiB). */
const FORM_LIMIT = 1024 * 1024;
const CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A body this much over the limit is still read (and dropped) before the 413: browsers show an early answer badly. */
const DRAIN_MAX = 16 * 1024 * 1024;

const limit = (maxSize: number): MiddlewareHandler<ConsoleEnv> => {
  const tooLarge = () => new AppError('payload_too_large', `the form is larger than ${maxSize >= 1024 * 1024 ? `${maxSize / (1024 * 1024)} MiB` : `${Math.round(maxSize / 1024)} KiB`}`);
  const check = bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge();
    },
  });
  return async (c, next) => {
    const length = Number(c.req.header('content-length') ?? Number.NaN);
    if (length > maxSize && length <= maxSize + DRAIN_MAX && c.req.raw.body) {
      const reader = c.req.raw.body.getReader();
      while (!(await reader.read()).done);
      throw tooLarge();
    }
    return check(c, next);
  };
};

async function parseForm(c: C): Promise<forms.FormData> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded' && type !== 'multipart/form-data') {
    throw new AppError('unsupported_media_type', 'forms are sent as application/x-www-form-urlencoded or multipart/form-data');
  }
  try {
    return (await c.req.parseBody({ all: true })) as forms.FormData;
  } catch (err) {
    if (err instanceof AppError || err instanceof HTTPException) throw err;
    throw new AppError('bad_request', 'the form could not be read');
  }
}

function audit(c: C, actor: string, result: string, status: number) {
  return auditStatement({ at: c.get('deps').clock.now(), actor, action: `${c.req.method} ${c.req.path}`, target: actor === 'anonymous' ? null : actor, siteId: null, result, status, requestId: c.get('requestId') });
}

/**
 * The web console: server-rendered pages under /console on the same app as the API. Every read and
 * change goes through the API routes as the signed-in token (api.ts), so roles, site confinement,
 * validation and the audit log are the API's own.
 */
export function consoleRoutes(fetchApp: AppFetch): Hono<ConsoleEnv> {
  const r = new Hono<ConsoleEnv>();

  r.use('*', async (c, next) => {
    c.set('session', null);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    if (!c.req.path.startsWith('/console/static/')) {
      c.header('content-security-policy', CSP);
      c.header('cache-control', 'no-store');
    }
    await next();
  });
  // Node and Deno compress here; Workers at Cloudflare's edge (AppDeps.compressConsole).
  r.use('*', (c, next) => {
    const compress = c.get('deps').compressConsole;
    return compress ? compress(c, next) : next();
  });

  r.get('/static/:file', (c) => {
    const a = Object.values(assets()).find((x) => x.path === c.req.path);
    if (!a) throw new AppError('not_found', 'no such file');
    c.header('cache-control', 'public, max-age=31536000, immutable');
    c.header('etag', a.etag);
    // Compression turns the ETag weak (W/"…"): either form matches.
    const tags = (c.req.header('if-none-match') ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (tags.includes(a.etag)) return c.body(null, 304);
    c.header('content-type', a.contentType);
    return c.body(a.body);
  });

  r.get('/sign-in', async (c) => {
    const s = await resolveSession(c);
    if (typeof s !== 'string') return c.redirect('/console', 303);
    const q = c.req.query();
    const notice = 'out' in q ? 'You are signed out.' : s === 'ended' || 'ended' in q ? 'Your session ended (signed out elsewhere, expired, or its token was revoked). Sign in again.' : undefined;
    return html(c, <SignInPage notice={notice} />);
  });

  r.post('/sign-in', limit(16 * 1024), async (c) => {
    if (!sameOrigin(c)) throw new AppError('forbidden', 'this form must be sent from the console’s own page');
    const result = await signIn(c, forms.field(await parseForm(c), 'token'));
    const { db } = c.get('deps');
    if (!result.ok) {
      await db.batch([audit(c, 'anonymous', 'unauthorized', 401)]);
      return html(c, <SignInPage message={result.reason} />, 401);
    }
    await db.batch([audit(c, result.principal.tokenId, 'ok', 303)]);
    return c.redirect('/console', 303);
  });

  // Everything below needs a session; changes also need the page's CSRF token and Origin.
  r.use('*', async (c, next) => {
    const s = await resolveSession(c);
    const isApi = c.req.path.startsWith('/console/api/');
    if (typeof s === 'string') {
      if (isApi) throw new AppError('unauthorized', 'sign in to the console again');
      return c.redirect(s === 'ended' ? '/console/sign-in?ended' : '/console/sign-in', 303);
    }
    c.set('session', s);
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    if (!sameOrigin(c)) throw new AppError('forbidden', 'changes must come from the console’s own pages (Origin check failed)');
    if (isApi) {
      if (!csrfMatches(s, c.req.header('x-csrf-token'))) throw new AppError('forbidden', 'missing or wrong CSRF token');
      return next();
    }
    const upload = c.req.method === 'POST' && c.req.path === '/console/images';
    await limit(upload ? FORM_UPLOAD_MAX + 64 * 1024 : FORM_LIMIT)(c, async () => {
      const f = await parseForm(c);
      if (!csrfMatches(s, forms.field(f, '_csrf'))) throw new AppError('forbidden', 'missing or wrong CSRF token: reload the page and try again');
      c.set('form', f);
      await next();
    });
  });

  const k = kit(fetchApp);
  const { session, api, now, notFoundPage, errorPage } = k;

  r.post('/sign-out', async (c) => {
    await c.get('deps').db.batch([endSession(c, session(c)), audit(c, session(c).principal.tokenId, 'ok', 303)]);
    return c.redirect('/console/sign-in?out', 303);
  });

  // ─── Fleet ─────────────────────────────────────────────────────────────────────────────────────

  r.get('/', async (c) => {
    const a = api(c);
    const { db } = c.get('deps');
    const p = session(c).principal;
    const [sites, relays, counts, failures, progress] = await Promise.all([
      a.get<Page<Site>>('/v1/sites?limit=500'),
      a.get<Page<Relay>>('/v1/relays?limit=500'),
      machineCounts(db, p),
      recentFailures(db, p),
      firstStepsProgress(k, c),
    ]);
    return html(c, <OverviewPage session={session(c)} now={now(c)} sites={sites.items} relays={relays.items} counts={counts} failures={failures} progress={progress} />);
  });

  const sitePage = siteRoutes(r, k);
  relayRoutes(r, k, sitePage);
  machineRoutes(r, k);
  tokenRoutes(r, k);
  webhookRoutes(r, k);
  catalogRoutes(r, k);

  r.all('*', (c) => notFoundPage(c, `no console page at ${c.req.path}`));

  r.onError((err, c) => {
    const e = toAppError(err);
    if (e.status >= 500) console.error(JSON.stringify({ level: 'error', requestId: c.get('requestId'), error: String(err), stack: err.stack }));
    // The upload script reads JSON, like the API it stands in for.
    if (c.req.path.startsWith('/console/api/')) {
      return c.json({ error: { code: e.code, message: e.message, requestId: c.get('requestId'), ...(e.issues ? { issues: e.issues } : {}) } }, e.status);
    }
    return errorPage(c, e.status, e.message, e.issues ?? []);
  });

  return r;
}

