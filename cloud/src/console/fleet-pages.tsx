/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Relay } from '../../../shared/schemas/access.ts';
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { BootExplanation } from '../../../shared/schemas/boot.ts';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import type { Issue } from '../errors.ts';
import type { Failure, StateCount } from './fleet.ts';
import { Badge, Csrf, described, Done, duration, Field, Layout, Pager, Problems, Table, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';
import { BootChart } from './timeline-chart.tsx';
import { PowerSection, type PowerView } from './power-section.tsx';
import { FirstSteps, type Progress } from './first-steps.tsx';
import { BulkReprovision, MachineEdit, MachineNew } from './machine-forms.tsx';
import { InventorySection } from './inventory-section.tsx';

export const STATES = ['discovered', 'ready', 'provisioning', 'deployed', 'failed'] as const;
/** Relays heartbeat every minute: three missed beats and the relay shows as stale. */
const ONLINE_MS = 3 * 60_000;

export interface FormState {
  message?: string;
  issues: Issue[];
  values?: Record<string, string>;
}

export const canWrite = (s: ConsoleSession, siteId: string | null) =>
  s.principal.role === 'admin' || (s.principal.role === 'operator' && siteId !== null && (s.principal.siteIds ?? []).includes(siteId));

export function relayHealth(r: Relay, now: number): 'online' | 'stale' | 'revoked' | 'never' {
  if (r.revokedAt) return 'revoked';
  if (!r.lastSeenAt) return 'never';
  return now - Date.parse(r.lastSeenAt) <= ONLINE_MS ? 'online' : 'stale';
}

const siteName = (sites: Site[], id: string | null) => (id === null ? 'no site' : (sites.find((s) => s.id === id)?.name ?? id));
const machineLabel = (m: { hostname: string | null; mac: string }) => m.hostname ?? m.mac;

export const OverviewPage: FC<{ session: ConsoleSession; now: number; sites: Site[]; relays: Relay[]; counts: StateCount[]; failures: Failure[]; progress: Progress }> = ({
  session,
  now,
  sites,
  relays,
  counts,
  failures,
  progress,
}) => {
  const siteIds: (string | null)[] = [...sites.map((s) => s.id)];
  if (counts.some((c) => c.siteId === null)) siteIds.push(null);
  const count = (siteId: string | null | undefined, state?: string) =>
    counts.filter((c) => (siteId === undefined || c.siteId === siteId) && (state === undefined || c.state === state)).reduce((n, c) => n + c.count, 0);
  return (
    <Layout title="Overview" session={session} nav="overview">
      <h1>Fleet overview</h1>
      <FirstSteps session={session} progress={progress} />
      <section aria-labelledby="h-sites">
        <h2 id="h-sites">Sites</h2>
        {sites.length === 0 ? (
          session.principal.role === 'admin' ? (
            <p>
              No sites yet. <a href="/console/sites#new">Create the first site</a>: one network with its own relay.
            </p>
          ) : (
            <p class="muted">No sites visible to this token: an administrator creates sites and can give this token some.</p>
          )
        ) : (
          <div class="cards">
            {sites.map((s) => {
              const rs = relays.filter((r) => r.siteId === s.id && !r.revokedAt);
              const online = rs.filter((r) => relayHealth(r, now) === 'online').length;
              return (
                <article class="card">
                  <h3>
                    <a href={`/console/sites/${s.id}`}>{s.name}</a>
                  </h3>
                  <p>
                    {rs.length === 0 ? <Badge value="bad" label="no relay" /> : <Badge value={online === rs.length ? 'online' : 'stale'} label={`${online}/${rs.length} relays online`} />}
                    {rs.some((r) => r.conflicts.length > 0) && (
                      <>
                        {' '}
                        <Badge value="bad" label="relays conflict" />
                      </>
                    )}
                  </p>
                  <p class="muted">
                    {count(s.id)} machine{count(s.id) === 1 ? '' : 's'}
                    {count(s.id, 'failed') > 0 ? `, ${count(s.id, 'failed')} failed` : ''}
                  </p>
                </article>
              );
            })}
          </div>
        )}
      </section>
      <section aria-labelledby="h-states">
        <h2 id="h-states">Machines by state</h2>
        <Table>
          <thead>
            <tr>
              <th scope="col">Site</th>
              {STATES.map((st) => (
                <th scope="col" class="num">
                  {st}
                </th>
              ))}
              <th scope="col" class="num">
                total
              </th>
            </tr>
          </thead>
          <tbody>
            {siteIds.map((id) => (
              <tr>
                <th scope="row">{id === null ? 'no site' : <a href={`/console/sites/${id}`}>{siteName(sites, id)}</a>}</th>
                {STATES.map((st) => (
                  <td class="num">
                    {count(id, st) > 0 && id !== null ? <a href={`/console/machines?siteId=${id}&state=${st}`}>{count(id, st)}</a> : count(id, st)}
                  </td>
                ))}
                <td class="num">{count(id)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </section>
      <section aria-labelledby="h-failures">
        <h2 id="h-failures">Recent failures</h2>
        {failures.length === 0 ? (
          <p class="muted">No failed installations.</p>
        ) : (
          <Table>
            <thead>
              <tr>
                <th scope="col">Machine</th>
                <th scope="col">Site</th>
                <th scope="col">When</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {failures.map((f) => (
                <tr>
                  <td>
                    <a href={`/console/machines/${f.machineId}`}>{machineLabel(f)}</a>
                  </td>
                  <td>{siteName(sites, f.siteId)}</td>
                  <td>
                    <Time at={f.at} now={now} />
                  </td>
                  <td>{f.reason ?? <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </section>
    </Layout>
  );
};

export const MachineRows: FC<{ machines: Machine[]; sites?: Site[]; now: number }> = ({ machines, sites, now }) => (
  <Table>
    <thead>
      <tr>
        <th scope="col">Machine</th>
        <th scope="col">MAC</th>
        {sites && <th scope="col">Site</th>}
        <th scope="col">State</th>
        <th scope="col">Arch</th>
        <th scope="col">Last seen</th>
      </tr>
    </thead>
    <tbody>
      {machines.map((m) => (
        <tr>
          <td>
            <a href={`/console/machines/${m.id}`}>{machineLabel(m)}</a>
          </td>
          <td class="mono">{m.mac}</td>
          {sites && <td>{siteName(sites, m.siteId)}</td>}
          <td>
            <Badge value={m.state} />
          </td>
          <td>{m.arch ?? '—'}</td>
          <td>
            <Time at={m.lastSeenAt} now={now} />
          </td>
        </tr>
      ))}
    </tbody>
  </Table>
);

/** A relay's LANs as it last reported them, one per line: `eth0 10.0.0.0/24 dhcp 10.0.0.100–10.0.0.149`. */
export const RelayLans: FC<{ lans: Relay['lans'] }> = ({ lans }) =>
  lans === null ? (
    <span class="muted">not reported</span>
  ) : lans.length === 0 ? (
    <span class="muted">none</span>
  ) : (
    <>
      {lans.map((l, i) => (
        <>
          {i > 0 && <br />}
          <span class="mono">{[l.interface ?? '—', l.subnet, l.mode, ...(l.range ? [`${l.range[0]}–${l.range[1]}`] : []), ...(l.relayed ? ['(relayed)'] : [])].join(' ')}</span>
        </>
      ))}
    </>
  );

/**
 * Relays of this site whose LANs collide (shared/relay-conflicts.ts), each pair once per side as the API
 * gives it: two DHCP relays must lease from disjoint ranges (README: "Two relays per site").
 */
export const RelayConflicts: FC<{ relays: Relay[] }> = ({ relays }) => {
  const found = relays.flatMap((r) => r.conflicts.map((c) => ({ relay: r.name, ...c })));
  if (found.length === 0) return null;
  return (
    <div class="msg err" role="alert">
      <p>
        <strong>Relays of this site conflict.</strong> Relays on one network in DHCP mode must each lease from their own range, with no address in two ranges.
      </p>
      <ul>
        {found.map((c) => (
          <li>
            {c.relay} and {c.relayName} on <span class="mono">{c.subnet}</span>: {c.reason}
          </li>
        ))}
      </ul>
    </div>
  );
};

export const MachinesPage: FC<{
  session: ConsoleSession;
  now: number;
  sites: Site[];
  machines: { items: Machine[]; nextCursor: string | null };
  query: { q: string; state: string; siteId: string; label: string };
  first: boolean;
  form?: FormState;
  notice?: string;
  ok?: string;
}> = ({ session, now, sites, machines, query, first, form, notice, ok }) => {
  const writer = session.principal.role !== 'viewer';
  const base = `/console/machines?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '')).toString()}`;
  return (
    <Layout title="Machines" session={session} nav="machines">
      <h1>Machines</h1>
      <Done ok={ok} />
      {notice && (
        <p class="msg" role="status">
          {notice}
        </p>
      )}
      {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => (['mac', 'hostname', 'siteId', 'labels', 'arch'].includes(p) ? `m-${p}` : null)} />}
      <form method="get" action="/console/machines" class="row" role="search">
        <Field id="f-q" label="Hostname or MAC starts with">
          <input id="f-q" type="search" name="q" value={query.q} maxlength={64} />
        </Field>
        <Field id="f-state" label="State">
          <select id="f-state" name="state">
            <option value="">any</option>
            {STATES.map((s) => (
              <option value={s} selected={query.state === s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-site" label="Site">
          <select id="f-site" name="siteId">
            <option value="">any</option>
            {sites.map((s) => (
              <option value={s.id} selected={query.siteId === s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-label" label="Label" hint="key=value, e.g. rack=r12 or hw.memory-gib=64">
          <input id="f-label" type="search" name="label" value={query.label} maxlength={128} aria-describedby="f-label-hint" />
        </Field>
        <button type="submit">Filter</button>
      </form>
      {machines.items.length === 0 ? (
        <p class="muted">{query.q || query.state || query.siteId || query.label ? 'No machines match.' : 'No machines yet: they appear when they first netboot at a site with a relay, or add one by its MAC below.'}</p>
      ) : (
        <MachineRows machines={machines.items} sites={sites} now={now} />
      )}
      <Pager next={machines.nextCursor} base={base} first={first} />
      {writer && <BulkReprovision session={session} query={query} count={machines.items.length} more={machines.nextCursor !== null} />}
      {writer && <MachineNew session={session} sites={sites} form={form?.values ? form : undefined} />}
    </Layout>
  );
};

export const MachinePage: FC<{
  session: ConsoleSession;
  now: number;
  machine: Machine;
  site: Site | null;
  sites?: Site[];
  match: { assignment: Assignment | null; reason: string };
  explain: BootExplanation;
  timeline: Timeline;
  assignments: Assignment[];
  profiles: Profile[];
  ok?: string;
  form?: FormState;
  power?: PowerView;
}> = ({ session, now, machine: m, site, sites = [], match, explain, timeline, assignments, profiles, ok, form, power }) => {
  const writable = canWrite(session, m.siteId);
  const profileName = (id: string | null) => (id === null ? '—' : (profiles.find((p) => p.id === id)?.name ?? id));
  const err = (name: string) => form?.issues.find((i) => i.path === name)?.message;
  return (
    <Layout title={machineLabel(m)} session={session} nav="machines">
      <h1>
        Machine {machineLabel(m)} <Badge value={m.state} />
      </h1>
      <Done ok={ok} />
      {form && (
        <Problems message={form.message} issues={form.issues} fieldId={(p) => (p === 'profileId' ? 'f-profile' : form.values?.editForm && ['hostname', 'siteId', 'labels'].includes(p) ? `e-${p}` : null)} />
      )}
      <div class="grid2">
        <section aria-labelledby="h-facts">
          <h2 id="h-facts">Facts</h2>
          <dl class="facts">
            <dt>MAC</dt>
            <dd class="mono">{m.mac}</dd>
            <dt>Site</dt>
            <dd>{site ? <a href={`/console/sites/${site.id}`}>{site.name}</a> : (m.siteId ?? 'none')}</dd>
            <dt>Hostname</dt>
            <dd>{m.hostname ?? '—'}</dd>
            <dt>Arch</dt>
            <dd>{m.arch ?? '—'}</dd>
            <dt>Secure Boot</dt>
            <dd>{m.secureBoot === true ? 'on' : m.secureBoot === false ? 'off' : 'unknown'}</dd>
            <dt>UUID</dt>
            <dd class="mono">{m.uuid ?? '—'}</dd>
            <dt>Serial</dt>
            <dd class="mono">{m.serial ?? '—'}</dd>
            <dt>Labels</dt>
            <dd class="mono">
              {Object.entries(m.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || '—'}
            </dd>
            <dt>Last seen</dt>
            <dd>
              <Time at={m.lastSeenAt} now={now} />
            </dd>
            <dt>Id</dt>
            <dd class="mono">{m.id}</dd>
          </dl>
        </section>
        <section aria-labelledby="h-explain">
          <h2 id="h-explain">What it boots now</h2>
          <p>
            <Badge value={explain.action} /> {explain.profile ? <strong>{explain.profile.name}</strong> : null} {explain.once ? '(one-shot)' : ''}
          </p>
          <p>{explain.reason}</p>
          {explain.loader && (
            <p>
              Loader: <strong>{explain.loader === 'shim' ? 'shim → GRUB (signed chain)' : 'iPXE'}</strong>
            </p>
          )}
          <h3>Assignment</h3>
          <p>
            {match.assignment ? (
              <>
                <a href={`/console/assignments/${match.assignment.id}`}>{profileName(match.assignment.profileId)}</a> — {match.reason}
              </>
            ) : (
              <span class="muted">{match.reason}</span>
            )}
          </p>
          {writable && (
            <>
              <form method="post" action={`/console/machines/${m.id}/assign`} class="stack">
                <Csrf session={session} />
                <Field id="f-profile" label="Assign a profile to this machine" error={err('profileId')}>
                  <select id="f-profile" name="profileId" required {...described('f-profile', false, err('profileId'))}>
                    <option value="">Choose a profile…</option>
                    {profiles.map((p) => (
                      <option value={p.id} selected={form?.values?.profileId === p.id}>
                        {`${p.name} (${p.spec.kind})`}
                      </option>
                    ))}
                  </select>
                </Field>
                <label class="check">
                  <input type="checkbox" name="once" checked={form?.values?.once === 'on'} /> One-shot: boot it until it reports success, then the local disk
                </label>
                <div>
                  <button type="submit">Assign</button>
                </div>
              </form>
              <form method="post" action={`/console/machines/${m.id}/reprovision`}>
                <Csrf session={session} />
                <p>
                  <button type="submit" class="secondary" data-confirm="Netboot this machine's assignment again on its next power-on?">
                    Reprovision
                  </button>{' '}
                  <span class="hint">Forgets completed one-shot assignments and marks it ready.</span>
                </p>
              </form>
            </>
          )}
        </section>
      </div>
      <InventorySection inventory={m.inventory} now={now} />
      {power && m.siteId && <PowerSection session={session} machineId={m.id} writable={writable} view={power} now={now} form={form?.values?.bmcForm ? form : undefined} />}
      {writable && <MachineEdit session={session} machine={m} sites={sites} form={form} />}
      {assignments.length > 0 && (
        <section aria-labelledby="h-assignments">
          <h2 id="h-assignments">Assignments for this machine</h2>
          <AssignmentRows session={session} assignments={assignments} profiles={profiles} sites={sites} machines={[m]} back={`/console/machines/${m.id}`} />
        </section>
      )}
      <section aria-labelledby="h-timeline">
        <h2 id="h-timeline">Boot timeline</h2>
        {timeline.boots.length === 0 ? (
          <p class="muted">No boots recorded yet.</p>
        ) : (
          <>
            <p class="legend muted" aria-hidden="true">
              <span class="relay">relay</span>
              <span class="cloud">cloud</span>
              <span class="callback">installer</span>
              <span class="error">error</span>
            </p>
            {timeline.boots.map((b, i) => (
              <article class="panel" aria-labelledby={`boot-${i}`}>
                <h3 id={`boot-${i}`}>
                  <Badge value={b.outcome} /> Boot <Time at={b.startedAt} now={now} />, {duration(Date.parse(b.endedAt) - Date.parse(b.startedAt))}
                  {b.profileId ? ` · ${profileName(b.profileId)}` : ''}
                </h3>
                <div class="scroll">
                  <BootChart boot={b} index={i} />
                </div>
                {b.progress && (
                  <p>
                    Progress: <code>{JSON.stringify(b.progress)}</code>
                  </p>
                )}
                {b.logTail && (
                  <>
                    <h4>Log tail</h4>
                    <pre>{b.logTail}</pre>
                  </>
                )}
                <details>
                  <summary>Stages and callbacks ({b.stages.length})</summary>
                  <Table>
                    <thead>
                      <tr>
                        <th scope="col">Stage</th>
                        <th scope="col">Source</th>
                        <th scope="col">At (UTC)</th>
                        <th scope="col" class="num">
                          Duration
                        </th>
                        <th scope="col">Detail</th>
                      </tr>
                    </thead>
                    <tbody>
                      {b.stages.map((s) => (
                        <tr>
                          <td>{s.stage}</td>
                          <td>{s.source}</td>
                          <td class="mono">{s.at.replace('T', ' ').replace('Z', '')}</td>
                          <td class="num">{duration(s.durationMs)}</td>
                          <td class="mono">{s.detail ? JSON.stringify(s.detail) : ''}</td>
                        </tr>
                      ))}
                    </tbody>
                  </Table>
                </details>
              </article>
            ))}
            {timeline.truncated && <p class="muted">Older boots are not shown.</p>}
          </>
        )}
      </section>
    </Layout>
  );
};

export const AssignmentRows: FC<{ session: ConsoleSession; assignments: Assignment[]; profiles: Profile[]; sites?: Site[]; machines?: Machine[]; back?: string }> = ({
  assignments,
  profiles,
  sites = [],
  machines = [],
}) => (
  <Table>
    <thead>
      <tr>
        <th scope="col">Assignment</th>
        <th scope="col">Profile</th>
        <th scope="col">Selector</th>
        <th scope="col">One-shot</th>
        <th scope="col" class="num">
          Priority
        </th>
      </tr>
    </thead>
    <tbody>
      {assignments.map((a) => (
        <tr>
          <td>
            <a href={`/console/assignments/${a.id}`} class="mono">
              {a.id}
            </a>
          </td>
          <td>{profiles.find((p) => p.id === a.profileId)?.name ?? a.profileId}</td>
          <td>{selectorText(a.selector, { sites, machines })}</td>
          <td>{a.once ? 'yes' : 'no'}</td>
          <td class="num">{a.priority}</td>
        </tr>
      ))}
    </tbody>
  </Table>
);

/** A selector as people read it: sites by name, machines by hostname (or MAC); an id only for what the page does not know. */
export function selectorText(s: Assignment['selector'], known: { sites?: Site[]; machines?: Machine[] } = {}): string {
  const parts: string[] = [];
  const machine = s.machineId ? known.machines?.find((m) => m.id === s.machineId) : undefined;
  if (s.machineId) parts.push(`machine ${machine ? machineLabel(machine) : s.machineId}`);
  if (s.mac) parts.push(`MAC ${s.mac}`);
  if (s.siteId) parts.push(`site ${known.sites?.find((x) => x.id === s.siteId)?.name ?? s.siteId}`);
  if (s.labels) parts.push(...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`));
  if (s.arch) parts.push(`arch ${s.arch}`);
  return parts.join(', ');
}
