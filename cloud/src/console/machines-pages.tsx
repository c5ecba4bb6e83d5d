/** @jsxImportSource hono/jsx */
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { Bmc, BmcRecipients, PowerJob } from '../../../shared/schemas/bmc.ts';
import type { BootExplanation } from '../../../shared/schemas/boot.ts';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { MachinePage, MachinesPage, type FormState } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { echo, enc, formOf, html, refused, type C, type ConsoleRouter, type Kit, type Page } from './kit.tsx';
import { BULK_MAX } from './machine-forms.tsx';
import { POWER_ACTIONS } from './power-section.tsx';

type Query = { q: string; state: string; siteId: string; label: string };
const queryString = (q: Query) => new URLSearchParams(Object.entries(q).filter(([, v]) => v !== '')).toString();

export function machineRoutes(r: ConsoleRouter, k: Kit) {
  async function machinesPage(c: C, query: Query, extra: { form?: FormState; notice?: string } = {}, status = 200) {
    const qs = queryString(query);
    const a = k.api(c);
    const [sites, machines] = await Promise.all([a.get<Page<Site>>('/v1/sites?limit=500'), a.call<Page<Machine>>('GET', `/v1/machines?limit=100${qs ? `&${qs}` : ''}${k.cursorQuery(c)}`)]);
    // A bad filter is shown beside the form rather than as an error page.
    const list = machines.ok ? machines.data : { items: [], nextCursor: null };
    const form = extra.form ?? (machines.ok ? undefined : { message: machines.error.message, issues: machines.error.issues });
    return html(
      c,
      <MachinesPage session={k.session(c)} now={k.now(c)} sites={sites.items} machines={list} query={query} first={k.first(c)} form={form} notice={extra.notice} ok={k.ok(c)} />,
      machines.ok ? status : machines.status,
    );
  }
  const queryOf = (get: (k: string) => string | undefined): Query => ({ q: get('q') ?? '', state: get('state') ?? '', siteId: get('siteId') ?? '', label: (get('label') ?? '').trim() });

  r.get('/machines', (c) => machinesPage(c, queryOf((n) => c.req.query(n))));

  r.post('/machines', async (c) => {
    const f = formOf(c);
    const parsed = forms.machineCreate(f);
    const query = queryOf(() => undefined);
    if (!parsed.ok) return machinesPage(c, query, { form: { issues: parsed.issues, values: echo(f) } }, 400);
    const res = await k.api(c).call<Machine>('POST', '/v1/machines', parsed.body);
    if (!res.ok) return machinesPage(c, query, { form: refused(res, f) }, res.status);
    return c.redirect(`/console/machines/${enc(res.data.id)}?ok=machine-created`, 303);
  });

  r.post('/machines/reprovision', async (c) => {
    const f = formOf(c);
    const query = queryOf((n) => forms.field(f, n) || undefined);
    const a = k.api(c);
    const ids: string[] = [];
    let cursor = '';
    do {
      const page = await a.call<Page<Machine>>('GET', `/v1/machines?limit=100&${queryString(query)}${cursor ? `&cursor=${enc(cursor)}` : ''}`);
      if (!page.ok) return machinesPage(c, query, { form: refused(page, f) }, page.status);
      ids.push(...page.data.items.map((m) => m.id));
      cursor = page.data.nextCursor ?? '';
    } while (cursor && ids.length < BULK_MAX);
    if (ids.length === 0) return machinesPage(c, query, { notice: 'No machine matches this filter: nothing was reprovisioned.' });
    let done = 0;
    const refusals: { id: string; status: number; message: string }[] = [];
    for (const id of ids.slice(0, BULK_MAX)) {
      const res = await a.call('POST', `/v1/machines/${enc(id)}/reprovision`);
      if (res.ok) done++;
      else refusals.push({ id, status: res.status, message: res.error.message });
    }
    if (refusals.length > 0) {
      // Nothing done (a viewer's token): the API's own status; some done: the page, with what was refused.
      const issues = refusals.slice(0, 20).map((x) => ({ path: x.id, message: x.message }));
      return machinesPage(c, query, { form: { message: `Reprovisioned ${done} of ${ids.length} machines; refused:`, issues } }, done === 0 ? refusals[0]!.status : 200);
    }
    return machinesPage(c, query, { notice: `Reprovisioned ${done} machine${done === 1 ? '' : 's'}${ids.length >= BULK_MAX && cursor ? ` (the first ${BULK_MAX}; post again for the rest)` : ''}: each netboots its assignment again on its next power-on.` });
  });

  async function machinePage(c: C, idOrMac: string, form?: FormState, status = 200) {
    const a = k.api(c);
    const m = await a.get<Machine>(`/v1/machines/${enc(idOrMac)}`);
    const base = `/v1/machines/${enc(m.id)}`;
    const [match, explain, timeline, assignments, profiles, sites, bmc, jobs, recipients] = await Promise.all([
      a.get<{ assignment: Assignment | null; reason: string }>(`${base}/assignment`),
      a.get<BootExplanation>(`${base}/explain`),
      a.get<Timeline>(`${base}/timeline?limit=10`),
      a.get<Page<Assignment>>(`/v1/assignments?limit=100&machineId=${enc(m.id)}`),
      a.get<Page<Profile>>('/v1/profiles?limit=500'),
      a.get<Page<Site>>('/v1/sites?limit=500'),
      m.siteId ? a.tryGet<Bmc>(`${base}/bmc`) : Promise.resolve(null),
      m.siteId ? a.tryGet<{ items: PowerJob[] }>(`${base}/power-jobs?limit=5`) : Promise.resolve(null),
      m.siteId ? a.tryGet<BmcRecipients>(`${base}/bmc/recipients`) : Promise.resolve(null),
    ]);
    return html(
      c,
      <MachinePage
        session={k.session(c)}
        now={k.now(c)}
        machine={m}
        site={sites.items.find((s) => s.id === m.siteId) ?? null}
        sites={sites.items}
        match={match}
        explain={explain}
        timeline={timeline}
        assignments={assignments.items}
        profiles={profiles.items}
        ok={k.ok(c)}
        form={form}
        power={{ bmc, jobs: jobs?.items ?? [], recipients: recipients?.relays ?? [] }}
      />,
      status,
    );
  }

  r.get('/machines/:id', (c) => machinePage(c, c.req.param('id')));

  r.post('/machines/:id/edit', async (c) => {
    const f = formOf(c);
    const id = c.req.param('id');
    const parsed = forms.machinePatch(f);
    if (!parsed.ok) return machinePage(c, id, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await k.api(c).call<Machine>('PATCH', `/v1/machines/${enc(id)}`, parsed.body);
    if (!res.ok) return res.status === 404 ? k.notFoundPage(c, res.error.message) : machinePage(c, id, refused(res, f), res.status);
    return c.redirect(`/console/machines/${enc(res.data.id)}?ok=saved`, 303);
  });

  r.post('/machines/:id/delete', async (c) => {
    const res = await k.api(c).call('DELETE', `/v1/machines/${enc(c.req.param('id'))}`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect('/console/machines?ok=deleted', 303);
  });

  r.post('/machines/:id/power', async (c) => {
    const id = c.req.param('id');
    const action = formOf(c).action;
    if (typeof action !== 'string' || !POWER_ACTIONS.includes(action)) return machinePage(c, id, { message: 'unknown power action', issues: [], values: {} }, 400);
    const res = await k.api(c).call<PowerJob>('POST', `/v1/machines/${enc(id)}/power`, { action });
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/machines/${enc(res.data.machineId)}?ok=power-queued`, 303);
  });

  r.post('/machines/:id/bmc', async (c) => {
    const id = c.req.param('id');
    const f = formOf(c);
    // Never the password (the form has no field for it) nor the ciphertext: only what the page shows again.
    const values = { bmcForm: 'on', ...Object.fromEntries(['protocol', 'address', 'username', 'systemId', 'tlsFingerprint'].map((n) => [n, forms.field(f, n)])) };
    const parsed = forms.bmcSet(f);
    if ('noScript' in parsed) {
      return machinePage(c, id, { message: "Setting a BMC needs JavaScript: this page seals the password in your browser so that the console never receives it. Without JavaScript, use `edgeboot machines bmc set` or the fleet file.", issues: [], values }, 400);
    }
    if (!parsed.ok) return machinePage(c, id, { issues: parsed.issues, values }, 400);
    const res = await k.api(c).call<Bmc>('PUT', `/v1/machines/${enc(id)}/bmc`, parsed.body);
    if (!res.ok) return machinePage(c, id, { message: res.error.message, issues: res.error.issues, values }, res.status);
    return c.redirect(`/console/machines/${enc(res.data.machineId)}?ok=bmc-saved`, 303);
  });

  r.post('/machines/:id/bmc/delete', async (c) => {
    const id = c.req.param('id');
    const res = await k.api(c).call('DELETE', `/v1/machines/${enc(id)}/bmc`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/machines/${enc(id)}?ok=bmc-deleted`, 303);
  });

  r.post('/machines/:id/assign', async (c) => {
    const f = formOf(c);
    const m = await k.api(c).get<Machine>(`/v1/machines/${enc(c.req.param('id'))}`);
    const parsed = forms.machineAssignment(f, m.id);
    if (!parsed.ok) return machinePage(c, m.id, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await k.api(c).call<{ replaced?: Assignment[] }>('POST', '/v1/assignments', parsed.body);
    if (!res.ok) return machinePage(c, m.id, refused(res, f), res.status);
    return c.redirect(`/console/machines/${enc(m.id)}?ok=${(res.data.replaced?.length ?? 0) > 0 ? 'assigned-replaced' : 'assigned'}`, 303);
  });

  r.post('/machines/:id/reprovision', async (c) => {
    const id = c.req.param('id');
    const res = await k.api(c).call<Machine>('POST', `/v1/machines/${enc(id)}/reprovision`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/machines/${enc(res.data.id)}?ok=reprovisioned`, 303);
  });
}
