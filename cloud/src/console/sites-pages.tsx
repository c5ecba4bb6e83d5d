/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Relay } from '../../../shared/schemas/access.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { FirstSteps, type Progress } from './first-steps.tsx';
import { canWrite, MachineRows, relayHealth, RelayConflicts, RelayLans, type FormState } from './fleet-pages.tsx';
import { RelayActions } from './relays-pages.tsx';
import * as forms from './forms.ts';
import { echo, enc, formOf, html, refused, type C, type ConsoleRouter, type Kit, type Page } from './kit.tsx';
import { Badge, Csrf, described, Done, Field, Layout, Pager, Problems, Table, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

const errOf = (form: FormState | undefined, name: string) => form?.issues.find((i) => i.path === name)?.message;
const val = (form: FormState | undefined, name: string, fallback = '') => form?.values?.[name] ?? fallback;

/** Name and description of a site: the create form on the Sites page and the edit form on a site's page. */
export const SiteFields: FC<{ form?: FormState; site?: Site; prefix: string }> = ({ form, site, prefix }) => (
  <>
    <Field id={`${prefix}-name`} label="Name" hint="e.g. branch-paris; people read it everywhere" error={errOf(form, 'name')}>
      <input id={`${prefix}-name`} name="name" required maxlength={64} value={val(form, 'name', site?.name ?? '')} {...described(`${prefix}-name`, true, errOf(form, 'name'))} />
    </Field>
    <Field id={`${prefix}-description`} label="Description (optional)" error={errOf(form, 'description')}>
      <input id={`${prefix}-description`} name="description" maxlength={500} value={val(form, 'description', site?.description ?? '')} {...described(`${prefix}-description`, false, errOf(form, 'description'))} />
    </Field>
  </>
);

export const SitesPage: FC<{ session: ConsoleSession; sites: Site[]; relays: Relay[]; progress: Progress; ok?: string; form?: FormState }> = ({ session, sites, relays, progress, ok, form }) => {
  const admin = session.principal.role === 'admin';
  return (
    <Layout title="Sites" session={session} nav="sites">
      <h1>Sites</h1>
      <Done ok={ok} />
      <FirstSteps session={session} progress={progress} />
      {sites.length === 0 ? (
        <p class="muted">No sites yet{admin ? '' : ' visible to this token'}.</p>
      ) : (
        <Table>
          <thead>
            <tr>
              <th scope="col">Site</th>
              <th scope="col">Description</th>
              <th scope="col" class="num">
                Relays
              </th>
            </tr>
          </thead>
          <tbody>
            {sites.map((s) => (
              <tr>
                <td>
                  <a href={`/console/sites/${s.id}`}>{s.name}</a>
                </td>
                <td>{s.description || <span class="muted">—</span>}</td>
                <td class="num">{relays.filter((r) => r.siteId === s.id && !r.revokedAt).length}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {admin && (
        <section aria-labelledby="h-new-site" id="new">
          <h2 id="h-new-site">New site</h2>
          <p class="hint">A site is one network with its own relay: a branch office, a lab, a rack row.</p>
          {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => (p === 'name' || p === 'description' ? `s-${p}` : null)} />}
          <form method="post" action="/console/sites" class="stack">
            <Csrf session={session} />
            <SiteFields form={form} prefix="s" />
            <div>
              <button type="submit">Create site</button>
            </div>
          </form>
        </section>
      )}
    </Layout>
  );
};

/** The edit and delete forms at the bottom of a site's page (admins: sites are fleet-wide objects). */
export const SiteSettings: FC<{ session: ConsoleSession; site: Site; form?: FormState }> = ({ session, site, form }) =>
  session.principal.role !== 'admin' ? null : (
    <section aria-labelledby="h-site-settings">
      <h2 id="h-site-settings">Site settings</h2>
      <div class="grid2">
        <form method="post" action={`/console/sites/${site.id}`} class="stack">
          <Csrf session={session} />
          <SiteFields form={form?.values?.siteForm ? form : undefined} site={site} prefix="e" />
          <input type="hidden" name="siteForm" value="on" />
          <div>
            <button type="submit">Save site</button>
          </div>
        </form>
        <form method="post" action={`/console/sites/${site.id}/delete`}>
          <Csrf session={session} />
          <p class="hint">A site can be deleted once no machine, relay or assignment refers to it.</p>
          <button type="submit" class="danger" data-confirm={`Delete the site ${site.name}?`}>
            Delete site
          </button>
        </form>
      </div>
    </section>
  );

export type SitePageFn = (c: C, id: string, extra?: { form?: FormState; enrollmentCode?: { code: string; expiresAt: string } }, status?: number) => Promise<Response>;

/** A site: its default profile, relays (health, versions, update state, revoke, enrollment), machines and settings. */
export const SitePage: FC<{
  session: ConsoleSession;
  now: number;
  site: Site;
  relays: Relay[];
  machines: { items: Machine[]; nextCursor: string | null };
  first: boolean;
  profiles: Profile[];
  ok?: string;
  form?: FormState;
  enrollmentCode?: { code: string; expiresAt: string };
  /** The control plane's address as the browser reached it: what the site box's install command fetches. */
  cloudUrl?: string;
}> = ({ session, now, site, relays, machines, first, profiles, ok, form, enrollmentCode, cloudUrl }) => {
  const siteForm = form?.values?.siteForm ? form : undefined;
  const defaultForm = siteForm ? undefined : form;
  const writable = canWrite(session, site.id);
  const current = profiles.find((p) => p.id === site.defaultProfileId);
  return (
    <Layout title={site.name} session={session} nav="overview">
      <h1>Site {site.name}</h1>
      <Done ok={ok} />
      {defaultForm && <Problems message={defaultForm.message} issues={defaultForm.issues} fieldId={() => 'f-default'} />}
      {siteForm && <Problems message={siteForm.message} issues={siteForm.issues} fieldId={(p) => (p === 'name' || p === 'description' ? `e-${p}` : null)} />}
      {site.description && <p>{site.description}</p>}
      <div class="grid2">
        <section aria-labelledby="h-policy">
          <h2 id="h-policy">Default policy</h2>
          <p>
            Unknown machines boot: <strong>{current ? current.name : site.defaultProfileId ? site.defaultProfileId : 'their local disk'}</strong>
          </p>
          {writable && (
            <form method="post" action={`/console/sites/${site.id}/default-profile`} class="row">
              <Csrf session={session} />
              <Field id="f-default" label="Default profile for unknown machines">
                <select id="f-default" name="defaultProfileId">
                  <option value="">Local disk (no profile)</option>
                  {profiles.map((p) => (
                    <option value={p.id} selected={p.id === site.defaultProfileId}>
                      {`${p.name} (${p.spec.kind})`}
                    </option>
                  ))}
                </select>
              </Field>
              <button type="submit">Save default</button>
            </form>
          )}
        </section>
        <section aria-labelledby="h-relays">
          <h2 id="h-relays">Relays</h2>
          {relays.length === 0 ? (
            <p class="muted">
              No relay enrolled yet. A relay is a small service on a Linux box at the site that answers the machines' DHCP and TFTP.
              {writable ? ' Get an enrollment code below, then paste the install command it shows on that box.' : ''}
            </p>
          ) : (
            <Table>
              <thead>
                <tr>
                  <th scope="col">Relay</th>
                  <th scope="col">Health</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Version</th>
                  <th scope="col">Desired</th>
                  <th scope="col">Update</th>
                  <th scope="col">Address</th>
                  <th scope="col">LANs</th>
                  {writable && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {relays.map((r) => (
                  <tr>
                    <td>{r.name}</td>
                    <td>
                      {/* Enrolled (the code was used) but it never reported: an install that stopped half way. */}
                      {relayHealth(r, now) === 'never' ? <Badge value="never" label="enrolled, never seen" /> : <Badge value={relayHealth(r, now)} />}
                    </td>
                    <td>
                      <Time at={r.lastSeenAt} now={now} />
                    </td>
                    <td class="mono">{r.version ?? '—'}</td>
                    <td class="mono">{r.desiredVersion ?? '—'}</td>
                    <td>{r.update ? `${r.update.state} ${r.update.version}${r.update.reason ? `: ${r.update.reason}` : ''}` : '—'}</td>
                    <td class="mono">{r.address ?? '—'}</td>
                    <td>
                      <RelayLans lans={r.lans} />
                    </td>
                    {writable && (
                      <td>
                        <RelayActions session={session} relay={r} />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
          <RelayConflicts relays={relays} />
          {enrollmentCode && (
            <p class="msg" role="status">
              Enrollment code (shown once; type it at the relay within{' '}
              <time datetime={enrollmentCode.expiresAt}>{Math.round((Date.parse(enrollmentCode.expiresAt) - now) / 60_000)} minutes</time>):{' '}
              <strong class="mono">{enrollmentCode.code}</strong>
              {cloudUrl && (
                <>
                  <br />
                  On the site box (Debian or Ubuntu), paste:{' '}
                  <code class="mono">{`curl -fsSL ${cloudUrl}/v1/relays/install.sh | sudo sh -s -- --code ${enrollmentCode.code}`}</code>
                </>
              )}
            </p>
          )}
          {writable && (
            <form method="post" action={`/console/sites/${site.id}/enrollment-codes`}>
              <Csrf session={session} />
              <button type="submit" class="secondary">
                New enrollment code for a relay
              </button>
            </form>
          )}
        </section>
      </div>
      <section aria-labelledby="h-machines">
        <h2 id="h-machines">Machines</h2>
        {machines.items.length === 0 ? (
          <p class="muted">
            No machines at this site yet: they appear when they first netboot, or{' '}
            {writable ? <a href="/console/machines#new">add one by its MAC</a> : 'an operator adds them by MAC'}.
          </p>
        ) : (
          <MachineRows machines={machines.items} now={now} />
        )}
        <Pager next={machines.nextCursor} base={`/console/sites/${site.id}`} first={first} />
      </section>
      <SiteSettings session={session} site={site} form={siteForm} />
    </Layout>
  );
};

/** The sites' routes; answers the site page's renderer, which the relays' routes use too. */
export function siteRoutes(r: ConsoleRouter, k: Kit): SitePageFn {
  const { session, api, now, cursorQuery, notFoundPage } = k;
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

  async function sitesPage(c: C, form?: FormState, status = 200) {
    const a = k.api(c);
    const [sites, relays, progress] = await Promise.all([a.get<Page<Site>>('/v1/sites?limit=500'), a.get<Page<Relay>>('/v1/relays?limit=500'), firstStepsProgress(k, c)]);
    return html(c, <SitesPage session={k.session(c)} sites={sites.items} relays={relays.items} progress={progress} ok={k.ok(c)} form={form} />, status);
  }

  r.get('/sites', (c) => sitesPage(c));

  r.post('/sites', async (c) => {
    const f = formOf(c);
    const parsed = forms.siteBody(f);
    if (!parsed.ok) return sitesPage(c, { issues: parsed.issues, values: echo(f) }, 400);
    const res = await k.api(c).call<Site>('POST', '/v1/sites', parsed.body);
    if (!res.ok) return sitesPage(c, refused(res, f), res.status);
    return c.redirect(`/console/sites/${enc(res.data.id)}?ok=site-created`, 303);
  });

  r.post('/sites/:id', async (c) => {
    const id = c.req.param('id');
    const f = formOf(c);
    const parsed = forms.siteBody(f);
    if (!parsed.ok) return sitePage(c, id, { form: { issues: parsed.issues, values: echo(f) } }, 400);
    const res = await k.api(c).call('PATCH', `/v1/sites/${enc(id)}`, parsed.body);
    if (!res.ok) return res.status === 404 ? k.notFoundPage(c, res.error.message) : sitePage(c, id, { form: refused(res, f) }, res.status);
    return c.redirect(`/console/sites/${enc(id)}?ok=saved`, 303);
  });

  r.post('/sites/:id/delete', async (c) => {
    const res = await k.api(c).call('DELETE', `/v1/sites/${enc(c.req.param('id'))}`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect('/console/sites?ok=deleted', 303);
  });

  return sitePage;
}

/** How far the fleet is along the first-run path (counts of one page are enough: only "none yet" matters). */
export async function firstStepsProgress(k: Kit, c: C): Promise<Progress> {
  const a = k.api(c);
  const [sites, relays, images, profiles, assignments] = await Promise.all([
    a.get<Page<Site>>('/v1/sites?limit=1'),
    a.get<Page<Relay>>('/v1/relays?limit=500'),
    a.tryGet<Page<unknown>>('/v1/images?limit=1'),
    a.tryGet<Page<unknown>>('/v1/profiles?limit=1'),
    a.tryGet<Page<unknown>>('/v1/assignments?limit=1'),
  ]);
  return {
    firstSiteId: sites.items[0]?.id ?? null,
    site: sites.items.length > 0,
    relay: relays.items.some((r) => !r.revokedAt),
    image: (images?.items.length ?? 0) > 0,
    profile: (profiles?.items.length ?? 0) > 0,
    assignment: (assignments?.items.length ?? 0) > 0,
  };
}
