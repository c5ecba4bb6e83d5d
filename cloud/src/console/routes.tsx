/** @jsxImportSource hono/jsx */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getRuntimeKey } from 'hono/adapter';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { HTTPException } from 'hono/http-exception';
import type { Relay } from '../../../shared/schemas/access.ts';
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { BootExplanation } from '../../../shared/schemas/boot.ts';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import type { Image } from '../../../shared/schemas/image.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import type { AuditEntry as AuditEntrySchema } from '../../../shared/schemas/access.ts';
type AuditEntry = import('zod').infer<typeof AuditEntrySchema>;
import { AppError, ERROR_STATUS, type Issue } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import type { AppFetch } from './api.ts';
import { assets } from './assets.ts';
import {
  AssignmentPage,
  AssignmentsPage,
  AuditPage,
  ErrorPage,
  FORM_UPLOAD_MAX,
  ImagesPage,
  ProfileFormPage,
  ProfilesPage,
  SignInPage,
} from './catalog-pages.tsx';
import { machineCounts, recentFailures } from './fleet.ts';
import { OverviewPage, SitePage, type FormState } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { echo, enc, formOf, html, kit, refused, type C, type Page } from './kit.tsx';
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
/** The upload script's calls (upload.js), forwarded to these API paths only. */
const API_PATHS: [string, RegExp][] = [
  ['POST', /^\/images$/],
  ['POST', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads$/],
  ['GET', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}$/],
  ['DELETE', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}$/],
  ['PUT', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}\/parts\/[0-9]{1,5}$/],
  ['POST', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}\/complete$/],
];

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
  return sql(
    'INSERT INTO audit_log (at, actor, action, target, site_id, result, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    c.get('deps').clock.now(),
    actor,
    `${c.req.method} ${c.req.path}`.slice(0, 512),
    actor === 'anonymous' ? null : actor,
    null,
    result,
    status,
    c.get('requestId'),
  );
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
  // Workers compress at Cloudflare's edge (and workerd encodes a body whose Content-Encoding is set, so
  // compressing here would do it twice); Node and Deno send what the app gives them.
  if (getRuntimeKey() !== 'workerd') r.use('*', compress());

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
  const { session, api, now, cursorQuery, apiErrorPage, notFoundPage, errorPage } = k;

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

  async function sitePage(c: C, id: string, extra: { form?: FormState; enrollmentCode?: { code: string; expiresAt: string } } = {}, status = 200) {
    const a = api(c);
    const site = await a.get<Site>(`/v1/sites/${enc(id)}`);
    const [relays, machines, profiles] = await Promise.all([
      a.get<Page<Relay>>(`/v1/relays?limit=500&siteId=${enc(site.id)}`),
      a.get<Page<Machine>>(`/v1/machines?limit=100&siteId=${enc(site.id)}${cursorQuery(c)}`),
      a.get<Page<Profile>>('/v1/profiles?limit=500'),
    ]);
    return html(
      c,
      <SitePage
        session={session(c)}
        now={now(c)}
        site={site}
        relays={relays.items}
        cloudUrl={new URL(c.req.url).origin}
        machines={machines}
        first={!c.req.query('cursor')}
        profiles={profiles.items}
        ok={c.req.query('ok')}
        {...extra}
      />,
      status,
    );
  }

  r.get('/sites/:id', (c) => sitePage(c, c.req.param('id')));

  r.post('/sites/:id/default-profile', async (c) => {
    const id = c.req.param('id');
    const f = formOf(c);
    const parsed = forms.siteDefault(f);
    if (!parsed.ok) return sitePage(c, id, { form: { issues: parsed.issues, values: echo(f) } }, 400);
    const res = await api(c).call('PATCH', `/v1/sites/${enc(id)}`, parsed.body);
    if (!res.ok) return res.status === 404 ? notFoundPage(c, res.error.message) : sitePage(c, id, { form: refused(res, f) }, res.status);
    return c.redirect(`/console/sites/${enc(id)}?ok=default-saved`, 303);
  });

  siteRoutes(r, k, sitePage);
  relayRoutes(r, k, sitePage);
  machineRoutes(r, k);
  tokenRoutes(r, k);
  webhookRoutes(r, k);

  // ─── Catalog ───────────────────────────────────────────────────────────────────────────────────

  async function imagesPage(c: C, form?: FormState, status = 200) {
    const images = await api(c).get<Page<Image>>(`/v1/images?limit=100${cursorQuery(c)}`);
    return html(c, <ImagesPage session={session(c)} now={now(c)} images={images} first={!c.req.query('cursor')} ok={c.req.query('ok')} form={form} />, status);
  }

  r.get('/images', (c) => imagesPage(c));

  /** The upload form without its script: one buffered request, up to FORM_UPLOAD_MAX. */
  r.post('/images', async (c) => {
    const f = formOf(c);
    const parsed = forms.imageCreate(f);
    const file = f.file;
    const issues = parsed.ok ? [] : [...parsed.issues];
    if (!(file instanceof File) || file.size === 0) issues.push({ path: 'file', message: 'choose a file (not empty)' });
    if (!parsed.ok || issues.length > 0 || !(file instanceof File)) return imagesPage(c, { issues, values: echo(f) }, 400);
    const a = api(c);
    const created = await a.call<Image>('POST', '/v1/images', parsed.body);
    if (!created.ok) return imagesPage(c, refused(created, f), created.status);
    const put = await a.call<Image>('PUT', `/v1/images/${enc(created.data.id)}/content`, new Uint8Array(await file.arrayBuffer()));
    if (!put.ok) {
      await a.call('DELETE', `/v1/images/${enc(created.data.id)}`);
      return imagesPage(c, refused(put, f), put.status);
    }
    return c.redirect('/console/images?ok=uploaded', 303);
  });

  r.post('/images/:id/delete', async (c) => {
    const res = await api(c).call('DELETE', `/v1/images/${enc(c.req.param('id'))}`);
    if (!res.ok) return apiErrorPage(c, res);
    return c.redirect('/console/images?ok=deleted', 303);
  });

  /** The upload script's requests, forwarded as they come (the parts' bodies are streamed). */
  r.all('/api/*', async (c) => {
    const path = c.req.path.slice('/console/api'.length);
    if (!API_PATHS.some(([m, re]) => m === c.req.method && re.test(path))) throw new AppError('not_found', `no console API route for ${c.req.method} ${path}`);
    if (c.req.method !== 'GET' && c.req.method !== 'DELETE' && c.req.header('content-length') === undefined) {
      throw new AppError('length_required', 'send a Content-Length');
    }
    return api(c).forward(`/v1${path}`, c.req.raw);
  });

  async function profilesPage(c: C) {
    const profiles = await api(c).get<Page<Profile>>(`/v1/profiles?limit=100${cursorQuery(c)}`);
    return html(c, <ProfilesPage session={session(c)} now={now(c)} profiles={profiles} first={!c.req.query('cursor')} ok={c.req.query('ok')} />);
  }

  async function profileForm(c: C, profile: Profile | null, form?: FormState, status = 200) {
    const images = await api(c).get<Page<Image>>('/v1/images?limit=500');
    return html(c, <ProfileFormPage session={session(c)} profile={profile} images={images.items} form={form} ok={c.req.query('ok')} />, status);
  }

  r.get('/profiles', (c) => profilesPage(c));
  r.get('/profiles/new', (c) => profileForm(c, null));
  r.get('/profiles/:id', async (c) => profileForm(c, await api(c).get<Profile>(`/v1/profiles/${enc(c.req.param('id'))}`)));

  r.post('/profiles', async (c) => {
    const f = formOf(c);
    const parsed = forms.profileBody(f);
    if (!parsed.ok) return profileForm(c, null, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await api(c).call<Profile>('POST', '/v1/profiles', parsed.body);
    if (!res.ok) return profileForm(c, null, refused(res, f), res.status);
    return c.redirect(`/console/profiles/${enc(res.data.id)}?ok=created`, 303);
  });

  r.post('/profiles/:id', async (c) => {
    const f = formOf(c);
    const profile = await api(c).get<Profile>(`/v1/profiles/${enc(c.req.param('id'))}`);
    const parsed = forms.profileBody(f);
    if (!parsed.ok) return profileForm(c, profile, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await api(c).call<Profile>('PATCH', `/v1/profiles/${enc(profile.id)}`, parsed.body);
    if (!res.ok) return profileForm(c, profile, refused(res, f), res.status);
    return c.redirect(`/console/profiles/${enc(profile.id)}?ok=saved`, 303);
  });

  r.post('/profiles/:id/delete', async (c) => {
    const res = await api(c).call('DELETE', `/v1/profiles/${enc(c.req.param('id'))}`);
    if (!res.ok) return apiErrorPage(c, res);
    return c.redirect('/console/profiles?ok=deleted', 303);
  });

  async function assignmentsPage(c: C, form?: FormState, status = 200) {
    const a = api(c);
    const [assignments, profiles, sites, machines] = await Promise.all([
      a.get<Page<Assignment>>(`/v1/assignments?limit=100${cursorQuery(c)}`),
      a.get<Page<Profile>>('/v1/profiles?limit=500'),
      a.get<Page<Site>>('/v1/sites?limit=500'),
      a.get<Page<Machine>>('/v1/machines?limit=500'),
    ]);
    return html(
      c,
      <AssignmentsPage
        session={session(c)}
        assignments={assignments}
        first={!c.req.query('cursor')}
        profiles={profiles.items}
        sites={sites.items}
        machines={machines.items}
        ok={c.req.query('ok')}
        form={form}
      />,
      status,
    );
  }

  async function assignmentPage(c: C, id: string, form?: FormState, status = 200) {
    const a = api(c);
    const [assignment, profiles, sites] = await Promise.all([a.get<Assignment>(`/v1/assignments/${enc(id)}`), a.get<Page<Profile>>('/v1/profiles?limit=500'), a.get<Page<Site>>('/v1/sites?limit=500')]);
    const machineId = assignment.selector.machineId;
    const machine = machineId ? await a.tryGet<Machine>(`/v1/machines/${enc(machineId)}`) : null;
    const writable = session(c).principal.role === 'admin' || session(c).principal.role === 'operator';
    return html(
      c,
      <AssignmentPage session={session(c)} assignment={assignment} profiles={profiles.items} sites={sites.items} machines={machine ? [machine] : []} writable={writable} ok={c.req.query('ok')} form={form} />,
      status,
    );
  }

  r.get('/assignments', (c) => assignmentsPage(c));
  r.get('/assignments/:id', (c) => assignmentPage(c, c.req.param('id')));

  r.post('/assignments', async (c) => {
    const f = formOf(c);
    const parsed = forms.assignmentCreate(f);
    if (!parsed.ok) return assignmentsPage(c, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await api(c).call<Assignment>('POST', '/v1/assignments', parsed.body);
    if (!res.ok) return assignmentsPage(c, refused(res, f), res.status);
    return c.redirect(`/console/assignments/${enc(res.data.id)}?ok=created`, 303);
  });

  r.post('/assignments/:id', async (c) => {
    const f = formOf(c);
    const id = c.req.param('id');
    const parsed = forms.assignmentPatch(f);
    if (!parsed.ok) return assignmentPage(c, id, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await api(c).call('PATCH', `/v1/assignments/${enc(id)}`, parsed.body);
    if (!res.ok) return res.status === 404 ? notFoundPage(c, res.error.message) : assignmentPage(c, id, refused(res, f), res.status);
    return c.redirect(`/console/assignments/${enc(id)}?ok=saved`, 303);
  });

  r.post('/assignments/:id/delete', async (c) => {
    const res = await api(c).call('DELETE', `/v1/assignments/${enc(c.req.param('id'))}`);
    if (!res.ok) return apiErrorPage(c, res);
    return c.redirect('/console/assignments?ok=deleted', 303);
  });

  r.get('/audit', async (c) => {
    const entries = await api(c).get<Page<AuditEntry>>(`/v1/audit?limit=100${cursorQuery(c)}`);
    return html(c, <AuditPage session={session(c)} now={now(c)} entries={entries} first={!c.req.query('cursor')} />);
  });

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

function toAppError(err: Error): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException) {
    const code = (Object.keys(ERROR_STATUS) as (keyof typeof ERROR_STATUS)[]).find((k) => ERROR_STATUS[k] === err.status) ?? 'bad_request';
    return new AppError(code, err.message || code);
  }
  return new AppError('internal', 'internal error');
}
