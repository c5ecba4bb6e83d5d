/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Token } from '../../../shared/schemas/access.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import type { FormState } from './fleet-pages.tsx';
import * as forms from './forms.ts';
import { echo, formOf, html, refused, enc, type C, type ConsoleRouter, type Kit, type Page } from './kit.tsx';
import { Badge, Csrf, described, Done, Field, Layout, Pager, Problems, Table, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

const ROLES = [
  ['viewer', 'Viewer: reads everything it may see, changes nothing'],
  ['operator', 'Operator: runs machines, assignments, relays and webhooks of its sites'],
  ['admin', 'Admin: everything, including images, profiles, sites and tokens'],
] as const;

const errOf = (form: FormState | undefined, name: string) => form?.issues.find((i) => i.path === name || i.path.startsWith(`${name}.`))?.message;

export const TokensPage: FC<{
  session: ConsoleSession;
  now: number;
  tokens: Page<Token>;
  sites: Site[];
  first: boolean;
  ok?: string;
  form?: FormState;
  created?: Token & { token: string };
}> = ({ session, now, tokens, sites, first, ok, form, created }) => {
  const siteNames = (ids: string[] | null) => (ids === null ? 'all sites' : ids.map((id) => sites.find((s) => s.id === id)?.name ?? id).join(', '));
  const values = form?.values ?? {};
  const chosen = new Set((values.siteIds ?? '').split('\n'));
  return (
    <Layout title="Tokens" session={session} nav="tokens">
      <h1>API tokens</h1>
      <Done ok={ok} />
      {created && (
        <div class="msg" role="status">
          <p>
            Token <strong>{created.name}</strong> created. Copy its secret now: it is shown only this once.
          </p>
          <p>
            <label for="t-secret">Secret</label>
            <input id="t-secret" class="mono" readonly value={created.token} size={48} />
          </p>
          <p class="hint">Sign in to this console with it, or use it as EDGEBOOT_TOKEN for the command line and the API.</p>
        </div>
      )}
      {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => (['name', 'role', 'siteIds', 'expiresInDays'].includes(p.split('.')[0]!) ? `t-${p.split('.')[0]}` : null)} />}
      <Table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Sites</th>
            <th scope="col">Starts with</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {tokens.items.map((t) => (
            <tr>
              <td>{t.name}</td>
              <td>{t.role}</td>
              <td>{t.role === 'relay' ? 'its relay' : siteNames(t.siteIds)}</td>
              <td class="mono">{t.prefix}…</td>
              <td>
                <Time at={t.lastUsedAt} now={now} />
              </td>
              <td>{t.expiresAt ? <time datetime={t.expiresAt}>{t.expiresAt.slice(0, 10)}</time> : <span class="muted">never</span>}</td>
              <td>
                {t.revokedAt ? (
                  <Badge value="bad" label="revoked" />
                ) : t.id === session.principal.tokenId ? (
                  <span class="muted">this session's token</span>
                ) : t.role === 'relay' ? (
                  // A relay's token goes with the relay: revoked there, on its site's page, both at once.
                  <span class="muted">revoke the relay on its site's page</span>
                ) : (
                  <form method="post" action={`/console/tokens/${t.id}/revoke`} class="inline">
                    <Csrf session={session} />
                    <button type="submit" class="danger" data-confirm={`Revoke the token ${t.name}? Everything using it is refused from then on.`} aria-label={`Revoke ${t.name}`}>
                      Revoke
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
      <Pager next={tokens.nextCursor} base="/console/tokens" first={first} />
      <section aria-labelledby="h-new-token" id="new">
        <h2 id="h-new-token">New token</h2>
        <form method="post" action="/console/tokens" class="stack">
          <Csrf session={session} />
          <Field id="t-name" label="Name" hint="who or what uses it: ci-deploy, alice" error={errOf(form, 'name')}>
            <input id="t-name" name="name" required maxlength={64} value={values.name ?? ''} {...described('t-name', true, errOf(form, 'name'))} />
          </Field>
          <fieldset id="t-role">
            <legend>Role</legend>
            {ROLES.map(([role, text]) => (
              <label class="check">
                <input type="radio" name="role" value={role} checked={(values.role ?? 'viewer') === role} /> {text}
              </label>
            ))}
            {errOf(form, 'role') && <span class="ferr">{errOf(form, 'role')}</span>}
          </fieldset>
          <fieldset id="t-siteIds">
            <legend>Sites (none ticked: every site)</legend>
            {sites.length === 0 && <p class="muted">No sites yet.</p>}
            {sites.map((s) => (
              <label class="check">
                <input type="checkbox" name="siteIds" value={s.id} checked={chosen.has(s.id)} /> {s.name}
              </label>
            ))}
            {errOf(form, 'siteIds') && <span class="ferr">{errOf(form, 'siteIds')}</span>}
          </fieldset>
          <Field id="t-expiresInDays" label="Expires after (days, optional)" error={errOf(form, 'expiresInDays') ?? errOf(form, 'expiresInSeconds')}>
            <input id="t-expiresInDays" name="expiresInDays" inputmode="numeric" maxlength={5} value={values.expiresInDays ?? ''} {...described('t-expiresInDays', false, errOf(form, 'expiresInDays'))} />
          </Field>
          <div>
            <button type="submit">Create token</button>
          </div>
        </form>
      </section>
    </Layout>
  );
};

export function tokenRoutes(r: ConsoleRouter, k: Kit) {
  async function tokensPage(c: C, extra: { form?: FormState; created?: Token & { token: string } } = {}, status = 200) {
    const a = k.api(c);
    const [tokens, sites] = await Promise.all([a.get<Page<Token>>(`/v1/tokens?limit=100${k.cursorQuery(c)}`), a.get<Page<Site>>('/v1/sites?limit=500')]);
    return html(c, <TokensPage session={k.session(c)} now={k.now(c)} tokens={tokens} sites={sites.items} first={k.first(c)} ok={k.ok(c)} {...extra} />, status);
  }

  r.get('/tokens', (c) => tokensPage(c));

  /** Answered with the page itself, not a redirect: the secret must not travel in a URL or be shown twice. */
  r.post('/tokens', async (c) => {
    const f = formOf(c);
    const parsed = forms.tokenCreate(f);
    if (!parsed.ok) return tokensPage(c, { form: { issues: parsed.issues, values: echo(f) } }, 400);
    const res = await k.api(c).call<Token & { token: string }>('POST', '/v1/tokens', parsed.body);
    if (!res.ok) return res.status === 403 ? k.apiErrorPage(c, res) : tokensPage(c, { form: refused(res, f) }, res.status);
    return tokensPage(c, { created: res.data }, 201);
  });

  r.post('/tokens/:id/revoke', async (c) => {
    const res = await k.api(c).call('DELETE', `/v1/tokens/${enc(c.req.param('id'))}`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect('/console/tokens?ok=token-revoked', 303);
  });
}
