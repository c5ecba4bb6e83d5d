/** @jsxImportSource hono/jsx */
import type { Child, FC } from 'hono/jsx';
import type { Issue } from '../errors.ts';
import { assets } from './assets.ts';
import type { ConsoleSession } from './session.ts';

export type NavKey = 'overview' | 'sites' | 'machines' | 'images' | 'profiles' | 'assignments' | 'webhooks' | 'tokens' | 'audit' | null;

const NAV: [Exclude<NavKey, null>, string, string][] = [
  ['overview', '/console', 'Overview'],
  ['sites', '/console/sites', 'Sites'],
  ['machines', '/console/machines', 'Machines'],
  ['images', '/console/images', 'Images'],
  ['profiles', '/console/profiles', 'Profiles'],
  ['assignments', '/console/assignments', 'Assignments'],
  ['webhooks', '/console/webhooks', 'Webhooks'],
  ['tokens', '/console/tokens', 'Tokens'],
  ['audit', '/console/audit', 'Audit log'],
];

/** Pages the API refuses outright to some roles are not offered to them. */
const NAV_ROLES: Partial<Record<Exclude<NavKey, null>, string[]>> = { webhooks: ['admin', 'operator'], tokens: ['admin'], audit: ['admin'] };

export const Layout: FC<{ title: string; session: ConsoleSession | null; nav?: NavKey; children?: Child }> = ({ title, session, nav = null, children }) => {
  const { style, script } = assets();
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · edgeboot`}</title>
        {/* No favicon request (a 404 on every first visit). */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={style.path} />
        <script src={script.path} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <div class="bar">
            <a class="brand" href="/console">
              edgeboot
            </a>
            {session && (
              <nav aria-label="Main">
                <ul>
                  {NAV.filter(([key]) => NAV_ROLES[key]?.includes(session.principal.role) ?? true).map(([key, href, label]) => (
                    <li>
                      <a href={href} aria-current={nav === key ? 'page' : undefined}>
                        {label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            )}
            {session && (
              <div class="who">
                <span>
                  {session.principal.role}
                  {session.principal.siteIds ? ` of ${session.principal.siteIds.length} site${session.principal.siteIds.length === 1 ? '' : 's'}` : ''} ·{' '}
                  <span class="mono">{session.principal.tokenId}</span>
                </span>
                <form class="inline" method="post" action="/console/sign-out">
                  <Csrf session={session} />
                  <button class="secondary" type="submit">
                    Sign out
                  </button>
                </form>
              </div>
            )}
          </div>
        </header>
        <main id="main" tabindex={-1}>
          {children}
        </main>
      </body>
    </html>
  );
};

export const Csrf: FC<{ session: ConsoleSession }> = ({ session }) => <input type="hidden" name="_csrf" value={session.csrf} />;

/** Messages after a redirect (?ok=…): fixed texts, never echoed from the query. */
const DONE: Record<string, string> = {
  assigned: 'Assignment created.',
  'assigned-replaced': 'Assigned: this profile replaces the machine’s earlier assignment.',
  'site-created': 'Site created. Next: enroll a relay at this site (below).',
  'machine-created': 'Machine added.',
  'relay-revoked': 'Relay revoked: its token is refused from now on.',
  'token-revoked': 'Token revoked.',
  'test-sent': 'Test event queued: its delivery appears below within seconds (reload).',
  'retry-queued': 'Delivery queued again.',
  reprovisioned: 'The machine will netboot its assignment again.',
  'bmc-saved': "BMC saved: the password was sealed in this browser to the site's relays; the console never received it.",
  'bmc-deleted': 'BMC and its sealed passwords deleted.',
  'power-queued': "Power job queued: the site's relay runs it within about a second (see below).",
  uploaded: 'Image uploaded.',
  created: 'Created.',
  saved: 'Saved.',
  deleted: 'Deleted.',
  'default-saved': 'Default profile saved.',
};

export const Done: FC<{ ok: string | undefined }> = ({ ok }) => {
  const text = ok ? DONE[ok] : undefined;
  return text ? (
    <p class="msg" role="status">
      {text}
    </p>
  ) : null;
};

/** The form's problems at the top (announced, with links to the fields), as the API or the schema gave them. */
export const Problems: FC<{ message?: string; issues: Issue[]; fieldId?: (path: string) => string | null }> = ({ message, issues, fieldId }) => {
  if (!message && issues.length === 0) return null;
  return (
    <div class="msg err" role="alert" tabindex={-1} id="problems">
      <strong>{message ?? 'Please correct the following.'}</strong>
      {issues.length > 0 && (
        <ul>
          {issues.map((i) => {
            const id = fieldId?.(i.path);
            return <li>{id ? <a href={`#${id}`}>{`${i.path}: ${i.message}`}</a> : `${i.path}: ${i.message}`}</li>;
          })}
        </ul>
      )}
    </div>
  );
};

/** A labelled control with its hint and its own error, tied together for screen readers. */
export const Field: FC<{ id: string; label: string; hint?: string; error?: string; children?: Child }> = ({ id, label, hint, error, children }) => (
  <div>
    <label for={id}>
      {label}
      {hint && (
        <span class="hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
    </label>
    {children}
    {error && (
      <span class="ferr" id={`${id}-err`}>
        {error}
      </span>
    )}
  </div>
);

/** aria-* for a control inside Field. */
export function described(id: string, hint: boolean, error: string | undefined): Record<string, string> {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ');
  return { ...(ids ? { 'aria-describedby': ids } : {}), ...(error ? { 'aria-invalid': 'true' } : {}) };
}

export const Badge: FC<{ value: string; label?: string }> = ({ value, label }) => <span class={`badge s-${value}`}>{label ?? value}</span>;

export const Time: FC<{ at: string | null; now: number }> = ({ at, now }) =>
  at === null ? <span class="muted">never</span> : <time datetime={at} title={at}>{ago(Date.parse(at), now)}</time>;

export function ago(ms: number, now: number): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function bytes(n: number | null): string {
  if (n === null) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function duration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Wide tables scroll sideways on a phone instead of widening the page. */
export const Table: FC<{ caption?: string; children?: Child }> = ({ caption, children }) => (
  <div class="scroll">
    <table>
      {caption && <caption class="muted">{caption}</caption>}
      {children}
    </table>
  </div>
);

export const Pager: FC<{ next: string | null; base: string; first: boolean }> = ({ next, base, first }) =>
  next || !first ? (
    <nav class="pager" aria-label="Pages">
      {!first && <a href={base}>First page</a>}
      {next && <a href={`${base}${base.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(next)}`}>Next page</a>}
    </nav>
  ) : null;
