/** @jsxImportSource hono/jsx */
import type { AuditEntry as AuditEntrySchema } from '../../../shared/schemas/access.ts';
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { Image } from '../../../shared/schemas/image.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { AppError } from '../errors.ts';
import { AssignmentPage, AssignmentsPage, AuditPage, ImagesPage, ProfileFormPage, ProfilesPage } from './catalog-pages.tsx';
import type { FormState } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { echo, enc, formOf, html, refused, type C, type ConsoleRouter, type Kit, type Page } from './kit.tsx';
type AuditEntry = import('zod').infer<typeof AuditEntrySchema>;

/** The upload script's calls (upload.js), forwarded to these API paths only. */
const API_PATHS: [string, RegExp][] = [
  ['POST', /^\/images$/],
  ['POST', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads$/],
  ['GET', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}$/],
  ['DELETE', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}$/],
  ['PUT', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}\/parts\/[0-9]{1,5}$/],
  ['POST', /^\/images\/[A-Za-z0-9_]{1,64}\/uploads\/[A-Za-z0-9_]{1,64}\/complete$/],
];

/** The catalog's pages: images (with the upload script's API calls), profiles, assignments and the audit log. */
export function catalogRoutes(r: ConsoleRouter, k: Kit) {
  const { session, api, now, cursorQuery, apiErrorPage, notFoundPage } = k;

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
    const res = await api(c).call<Assignment & { replaced?: Assignment[] }>('POST', '/v1/assignments', parsed.body);
    if (!res.ok) return assignmentsPage(c, refused(res, f), res.status);
    return c.redirect(`/console/assignments/${enc(res.data.id)}?ok=${(res.data.replaced?.length ?? 0) > 0 ? 'assigned-replaced' : 'created'}`, 303);
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
}
