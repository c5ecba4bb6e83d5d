/** @jsxImportSource hono/jsx */
import type { Child, FC } from 'hono/jsx';
import type { AuditEntry as AuditEntrySchema } from '../../../shared/schemas/access.ts';
type AuditEntry = import('zod').infer<typeof AuditEntrySchema>;
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import { Arch } from '../../../shared/schemas/common.ts';
import type { Image } from '../../../shared/schemas/image.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import { ImageKind } from '../../../shared/schemas/image.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { AssignmentRows, type FormState } from './fleet-pages.tsx';
import { Badge, bytes, Csrf, described, Done, Field, Layout, Pager, Problems, Table, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

/** Kinds offered in the profile form; the spec box takes any kind the API knows. */
const PROFILE_KINDS = ['linux', 'ipxe', 'local', 'menu', 'wimboot', 'imaging'];

/** The largest file the upload form takes without its script (one request, buffered); with it, any size. */
export const FORM_UPLOAD_MAX = 32 * 1024 * 1024;
/** Parts the upload script sends: small enough to retry cheaply and under Workers' 100 MB request limit. */
const UPLOAD_PART_SIZE = 32 * 1024 * 1024;

const errOf = (form: FormState | undefined, ...paths: string[]) =>
  form?.issues.find((i) => paths.some((p) => i.path === p || i.path.startsWith(`${p}.`)))?.message;
const val = (form: FormState | undefined, name: string, fallback = '') => form?.values?.[name] ?? fallback;

export const ImagesPage: FC<{ session: ConsoleSession; now: number; images: { items: Image[]; nextCursor: string | null }; first: boolean; ok?: string; form?: FormState }> = ({
  session,
  now,
  images,
  first,
  ok,
  form,
}) => {
  const admin = session.principal.role === 'admin';
  return (
    <Layout title="Images" session={session} nav="images">
      <h1>Images</h1>
      <Done ok={ok} />
      {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => `f-${p.split('.')[0]}`} />}
      {images.items.length === 0 ? (
        <p class="muted">No images yet{admin ? ': upload the files machines boot below (a kernel and its initrd, an ISO, a disk image).' : '.'}</p>
      ) : (
        <Table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col">SHA-256</th>
              <th scope="col">Updated</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {images.items.map((i) => (
              <tr>
                <td>{i.name}</td>
                <td>{i.kind}</td>
                <td>
                  <Badge value={i.status} />
                </td>
                <td class="num" title={i.size === null ? undefined : `${i.size} bytes`}>
                  {bytes(i.size)}
                </td>
                <td class="mono">{i.sha256 ?? '—'}</td>
                <td>
                  <Time at={i.updatedAt} now={now} />
                </td>
                {admin && (
                  <td>
                    <form method="post" action={`/console/images/${i.id}/delete`} class="inline">
                      <Csrf session={session} />
                      <button type="submit" class="secondary" data-confirm={`Delete the image ${i.name}?`} aria-label={`Delete ${i.name}`}>
                        Delete
                      </button>
                    </form>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      <Pager next={images.nextCursor} base="/console/images" first={first} />
      {admin && (
        <section aria-labelledby="h-upload">
          <h2 id="h-upload">Upload an image</h2>
          <form id="upload" method="post" action="/console/images" enctype="multipart/form-data" class="stack" data-part-size={UPLOAD_PART_SIZE}>
            <Csrf session={session} />
            <Field id="f-name" label="Name" error={errOf(form, 'name')}>
              <input id="f-name" type="text" name="name" required maxlength={64} value={val(form, 'name')} {...described('f-name', false, errOf(form, 'name'))} />
            </Field>
            <Field id="f-kind" label="Kind">
              <select id="f-kind" name="kind">
                {ImageKind.options.map((k) => (
                  <option value={k} selected={val(form, 'kind', 'file') === k}>
                    {k}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-contentType" label="Content type" hint="Optional; default application/octet-stream" error={errOf(form, 'contentType')}>
              <input
                id="f-contentType"
                type="text"
                name="contentType"
                maxlength={128}
                value={val(form, 'contentType')}
                {...described('f-contentType', true, errOf(form, 'contentType'))}
              />
            </Field>
            <Field id="f-file" label="File" hint={`Any size with JavaScript (multipart, with progress); up to ${bytes(FORM_UPLOAD_MAX)} without.`} error={errOf(form, 'file')}>
              <input id="f-file" type="file" name="file" required {...described('f-file', true, errOf(form, 'file'))} />
            </Field>
            <progress id="upload-progress" hidden value={0} max={1} aria-label="Upload progress"></progress>
            <p id="upload-status" role="status" aria-live="polite"></p>
            <div>
              <button type="submit">Upload</button>
            </div>
          </form>
        </section>
      )}
    </Layout>
  );
};

export const ProfilesPage: FC<{ session: ConsoleSession; now: number; profiles: { items: Profile[]; nextCursor: string | null }; first: boolean; ok?: string }> = ({
  session,
  now,
  profiles,
  first,
  ok,
}) => (
  <Layout title="Profiles" session={session} nav="profiles">
    <h1>Profiles</h1>
    <Done ok={ok} />
    {session.principal.role === 'admin' && (
      <p>
        <a href="/console/profiles/new">New profile</a>
      </p>
    )}
    {profiles.items.length === 0 ? (
      <p class="muted">No profiles yet. A profile is what a machine boots: a kernel with its initrds and command line, an iPXE script, or its local disk.</p>
    ) : (
      <Table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kind</th>
            <th scope="col">Description</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {profiles.items.map((p) => (
            <tr>
              <td>
                <a href={`/console/profiles/${p.id}`}>{p.name}</a>
              </td>
              <td>{p.spec.kind}</td>
              <td>{p.description}</td>
              <td>
                <Time at={p.updatedAt} now={now} />
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
    )}
    <Pager next={profiles.nextCursor} base="/console/profiles" first={first} />
  </Layout>
);

/** Non-admins read a profile in the same layout, with nothing to submit. */
const FormOrDiv: FC<{ admin: boolean; action: string; children?: Child }> = ({ admin, action, children }) =>
  admin ? (
    <form method="post" action={action} class="stack">
      {children}
    </form>
  ) : (
    <div class="stack">{children}</div>
  );

/** Spec fields of the linux/ipxe kinds → the form's field ids; anything else points at the JSON box. */
function profileFieldId(path: string): string {
  const m = /^spec\.(kernel|initrds|cmdline|script|shim|grub|arch)/.exec(path);
  if (m) return `f-${m[1]}`;
  if (path.startsWith('spec')) return 'f-spec';
  return `f-${path.split('.')[0]}`;
}

export const ProfileFormPage: FC<{ session: ConsoleSession; profile: Profile | null; images: Image[]; form?: FormState; ok?: string }> = ({
  session,
  profile,
  images,
  form,
  ok,
}) => {
  const admin = session.principal.role === 'admin';
  const spec = profile?.spec as Record<string, unknown> | undefined;
  const kind = val(form, 'kind', profile?.spec.kind ?? 'linux');
  // Editing: the spec box holds the stored spec, so every kind round-trips exactly.
  const specJson = val(form, 'spec', profile ? JSON.stringify(profile.spec, null, 2) : '');
  const specErr = form?.issues.find((i) => profileFieldId(i.path) === 'f-spec')?.message;
  const kernels = images.filter((i) => i.kind === 'kernel' || i.kind === 'efi' || i.kind === 'file');
  const initrds = images.filter((i) => i.kind === 'initrd' || i.kind === 'file');
  const efis = images.filter((i) => i.kind === 'efi' || i.kind === 'file');
  const specText = (k: string) => (typeof spec?.[k] === 'string' ? (spec[k] as string) : '');
  const efiSelect = (name: 'shim' | 'grub') => (
    <select id={`f-${name}`} name={name} {...described(`f-${name}`, true, errOf(form, `spec.${name}`))}>
      <option value="">None: boot through iPXE</option>
      {efis.map((i) => (
        <option value={i.id} selected={val(form, name, specText(name)) === i.id}>
          {`${i.name} (${i.arch}${i.binary?.signature ? ', signed' : ''})`}
        </option>
      ))}
    </select>
  );
  const chosenInitrds = form?.values?.initrds?.split('\n') ?? (Array.isArray(spec?.initrds) ? (spec.initrds as string[]) : []);
  const action = profile ? `/console/profiles/${profile.id}` : '/console/profiles';
  return (
    <Layout title={profile ? profile.name : 'New profile'} session={session} nav="profiles">
      <h1>{profile ? `Profile ${profile.name}` : 'New profile'}</h1>
      <Done ok={ok} />
      {form && <Problems message={form.message} issues={form.issues} fieldId={profileFieldId} />}
      <FormOrDiv admin={admin} action={action}>
        {admin && <Csrf session={session} />}
        <fieldset disabled={!admin}>
          {!admin && <legend class="muted">Read-only: only admins change profiles.</legend>}
          <Field id="f-name" label="Name" error={errOf(form, 'name')}>
            <input id="f-name" type="text" name="name" required maxlength={64} value={val(form, 'name', profile?.name ?? '')} {...described('f-name', false, errOf(form, 'name'))} />
          </Field>
          <Field id="f-description" label="Description" error={errOf(form, 'description')}>
            <input
              id="f-description"
              type="text"
              name="description"
              maxlength={1024}
              value={val(form, 'description', profile?.description ?? '')}
              {...described('f-description', false, errOf(form, 'description'))}
            />
          </Field>
          <Field id="f-kind" label="Kind">
            <select id="f-kind" name="kind">
              {PROFILE_KINDS.map((k) => (
                <option value={k} selected={kind === k}>
                  {k}
                </option>
              ))}
            </select>
          </Field>
          <details open={!profile}>
            <summary>Fields for linux and ipxe profiles (used when the JSON box below is empty)</summary>
            <Field id="f-kernel" label="Kernel image (linux)" error={errOf(form, 'spec.kernel')}>
              <select id="f-kernel" name="kernel" {...described('f-kernel', false, errOf(form, 'spec.kernel'))}>
                <option value="">Choose…</option>
                {kernels.map((i) => (
                  <option value={i.id} selected={val(form, 'kernel', typeof spec?.kernel === 'string' ? spec.kernel : '') === i.id}>
                    {`${i.name} (${i.kind})`}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-initrds" label="Initrds (linux)" hint="Select several with Ctrl or Shift" error={errOf(form, 'spec.initrds')}>
              <select id="f-initrds" name="initrds" multiple size={Math.min(Math.max(initrds.length, 2), 6)} {...described('f-initrds', true, errOf(form, 'spec.initrds'))}>
                {initrds.map((i) => (
                  <option value={i.id} selected={chosenInitrds.includes(i.id)}>
                    {`${i.name} (${i.kind})`}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-cmdline" label="Kernel command line (linux)" error={errOf(form, 'spec.cmdline')}>
              <input
                id="f-cmdline"
                type="text"
                name="cmdline"
                maxlength={4096}
                value={val(form, 'cmdline', typeof spec?.cmdline === 'string' ? spec.cmdline : '')}
                {...described('f-cmdline', false, errOf(form, 'spec.cmdline'))}
              />
            </Field>
            <Field id="f-shim" label="Shim (linux)" hint="UEFI x64 machines boot through this signed shim, then the GRUB below: needed with Secure Boot on" error={errOf(form, 'spec.shim')}>
              {efiSelect('shim')}
            </Field>
            <Field id="f-grub" label="GRUB (linux)" hint="The distribution's signed network GRUB the shim loads (e.g. grubnetx64.efi.signed)" error={errOf(form, 'spec.grub')}>
              {efiSelect('grub')}
            </Field>
            <Field id="f-arch" label="Architecture (linux)" error={errOf(form, 'spec.arch')}>
              <select id="f-arch" name="arch" {...described('f-arch', false, errOf(form, 'spec.arch'))}>
                <option value="">From the kernel image</option>
                {(['x86-64', 'arm64', 'any'] as const).map((a) => (
                  <option value={a} selected={val(form, 'arch', specText('arch')) === a}>
                    {a}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-script" label="iPXE script (ipxe)" error={errOf(form, 'spec.script')}>
              <textarea id="f-script" name="script" rows={5} maxlength={16384} {...described('f-script', false, errOf(form, 'spec.script'))}>
                {val(form, 'script', typeof spec?.script === 'string' ? spec.script : '')}
              </textarea>
            </Field>
          </details>
          <Field
            id="f-spec"
            label="Spec as JSON (any kind)"
            hint='e.g. {"kind":"menu","title":"Lab","timeoutSeconds":10,"items":[]} — when filled, it is used instead of the fields above.'
            error={specErr}
          >
            <textarea id="f-spec" name="spec" rows={10} maxlength={200000} {...described('f-spec', true, specErr)}>
              {specJson}
            </textarea>
          </Field>
          {admin && (
            <div>
              <button type="submit">{profile ? 'Save profile' : 'Create profile'}</button>
            </div>
          )}
        </fieldset>
      </FormOrDiv>
      {profile && admin && (
        <form method="post" action={`/console/profiles/${profile.id}/delete`}>
          <Csrf session={session} />
          <p>
            <button type="submit" class="danger" data-confirm={`Delete the profile ${profile.name}?`}>
              Delete profile
            </button>
          </p>
        </form>
      )}
    </Layout>
  );
};

function assignmentFieldId(path: string): string | null {
  if (path.startsWith('selector.labels')) return 'f-labels';
  const m = /^selector\.(\w+)/.exec(path);
  if (m) return `f-${m[1]}`;
  if (path === 'selector') return 'f-mac';
  return `f-${path.split('.')[0]}`;
}

export const AssignmentsPage: FC<{
  session: ConsoleSession;
  assignments: { items: Assignment[]; nextCursor: string | null };
  first: boolean;
  profiles: Profile[];
  sites: Site[];
  machines?: Machine[];
  ok?: string;
  form?: FormState;
}> = ({ session, assignments, first, profiles, sites, machines = [], ok, form }) => {
  const writer = session.principal.role === 'admin' || session.principal.role === 'operator';
  const e = (p: string) => form?.issues.find((i) => assignmentFieldId(i.path) === `f-${p}`)?.message;
  return (
    <Layout title="Assignments" session={session} nav="assignments">
      <h1>Assignments</h1>
      <Done ok={ok} />
      {form && <Problems message={form.message} issues={form.issues} fieldId={assignmentFieldId} />}
      {assignments.items.length === 0 ? (
        <p class="muted">
          {writer
            ? profiles.length === 0
              ? 'No assignments yet. An assignment names a profile: create a profile first.'
              : 'No assignments yet: choose a profile and the machines it is for below (a MAC, a site, labels).'
            : 'No assignments visible to this token.'}
          {writer && profiles.length === 0 && (
            <>
              {' '}
              <a href="/console/profiles/new">New profile</a>
            </>
          )}
        </p>
      ) : (
        <AssignmentRows session={session} assignments={assignments.items} profiles={profiles} sites={sites} machines={machines} />
      )}
      <Pager next={assignments.nextCursor} base="/console/assignments" first={first} />
      {writer && (
        <section aria-labelledby="h-new" id="new">
          <h2 id="h-new">New assignment</h2>
          <p class="hint">Every selector field given must match; the most specific assignment wins (machine &gt; labels &gt; site &gt; arch).</p>
          <form method="post" action="/console/assignments" class="stack">
            <Csrf session={session} />
            <Field id="f-profileId" label="Profile" error={e('profileId')}>
              <select id="f-profileId" name="profileId" required {...described('f-profileId', false, e('profileId'))}>
                <option value="">Choose…</option>
                {profiles.map((p) => (
                  <option value={p.id} selected={val(form, 'profileId') === p.id}>
                    {`${p.name} (${p.spec.kind})`}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-mac" label="Machine MAC" hint="e.g. 52:54:00:12:34:56" error={e('mac')}>
              <input id="f-mac" type="text" name="mac" maxlength={40} value={val(form, 'mac')} {...described('f-mac', true, e('mac'))} />
            </Field>
            <Field id="f-siteId" label="Site" error={e('siteId')}>
              <select id="f-siteId" name="siteId" {...described('f-siteId', false, e('siteId'))}>
                <option value="">any</option>
                {sites.map((s) => (
                  <option value={s.id} selected={val(form, 'siteId') === s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-labels" label="Labels" hint="key=value, comma-separated, e.g. rack=r12, role=db" error={e('labels')}>
              <input id="f-labels" type="text" name="labels" maxlength={4096} value={val(form, 'labels')} {...described('f-labels', true, e('labels'))} />
            </Field>
            <Field id="f-arch" label="Architecture" error={e('arch')}>
              <select id="f-arch" name="arch" {...described('f-arch', false, e('arch'))}>
                <option value="">any</option>
                {Arch.options.map((a) => (
                  <option value={a} selected={val(form, 'arch') === a}>
                    {a}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-priority" label="Priority" hint="-1000 to 1000; breaks ties between equally specific matches" error={e('priority')}>
              <input id="f-priority" type="number" name="priority" value={val(form, 'priority', '0')} {...described('f-priority', true, e('priority'))} />
            </Field>
            <label class="check">
              <input type="checkbox" name="once" checked={val(form, 'once') === 'on'} /> One-shot (until the machine reports success)
            </label>
            <label class="check">
              <input type="checkbox" name="add" checked={val(form, 'add') === 'on'} /> With a MAC: add beside the machine’s earlier assignments instead of replacing them
            </label>
            <div>
              <button type="submit">Create assignment</button>
            </div>
          </form>
        </section>
      )}
    </Layout>
  );
};

export const AssignmentPage: FC<{ session: ConsoleSession; assignment: Assignment; profiles: Profile[]; sites?: Site[]; machines?: Machine[]; writable: boolean; ok?: string; form?: FormState }> = ({
  session,
  assignment: a,
  profiles,
  sites = [],
  machines = [],
  writable,
  ok,
  form,
}) => (
  <Layout title="Assignment" session={session} nav="assignments">
    <h1>Assignment of {profiles.find((p) => p.id === a.profileId)?.name ?? a.profileId}</h1>
    <Done ok={ok} />
    {form && <Problems message={form.message} issues={form.issues} fieldId={(p) => `f-${p}`} />}
    <AssignmentRows session={session} assignments={[a]} profiles={profiles} sites={sites} machines={machines} />
    {a.selector.machineId && (
      <p>
        <a href={`/console/machines/${a.selector.machineId}`}>The machine’s page</a>
      </p>
    )}
    {writable && (
      <>
        <h2>Change</h2>
        <form method="post" action={`/console/assignments/${a.id}`} class="stack">
          <Csrf session={session} />
          <Field id="f-profileId" label="Profile" error={errOf(form, 'profileId')}>
            <select id="f-profileId" name="profileId" {...described('f-profileId', false, errOf(form, 'profileId'))}>
              {profiles.map((p) => (
                <option value={p.id} selected={val(form, 'profileId', a.profileId) === p.id}>
                  {`${p.name} (${p.spec.kind})`}
                </option>
              ))}
            </select>
          </Field>
          <Field id="f-priority" label="Priority" error={errOf(form, 'priority')}>
            <input id="f-priority" type="number" name="priority" value={val(form, 'priority', String(a.priority))} {...described('f-priority', false, errOf(form, 'priority'))} />
          </Field>
          <label class="check">
            <input type="checkbox" name="once" checked={form ? val(form, 'once') === 'on' : a.once} /> One-shot
          </label>
          <div>
            <button type="submit">Save</button>
          </div>
        </form>
        <form method="post" action={`/console/assignments/${a.id}/delete`}>
          <Csrf session={session} />
          <p>
            <button type="submit" class="danger" data-confirm="Delete this assignment?">
              Delete assignment
            </button>
          </p>
        </form>
      </>
    )}
  </Layout>
);

export const AuditPage: FC<{ session: ConsoleSession; now: number; entries: { items: AuditEntry[]; nextCursor: string | null }; first: boolean }> = ({ session, now, entries, first }) => (
  <Layout title="Audit log" session={session} nav="audit">
    <h1>Audit log</h1>
    <Table>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">Result</th>
        </tr>
      </thead>
      <tbody>
        {entries.items.map((e) => (
          <tr>
            <td>
              <Time at={e.at} now={now} />
            </td>
            <td class="mono">{e.actor}</td>
            <td class="mono">{e.action}</td>
            <td class="mono">{e.target ?? '—'}</td>
            <td>
              <Badge value={e.status < 400 ? 'ok' : 'bad'} label={`${e.result} (${e.status})`} />
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
    <Pager next={entries.nextCursor} base="/console/audit" first={first} />
  </Layout>
);

export const SignInPage: FC<{ message?: string; notice?: string }> = ({ message, notice }) => (
  <Layout title="Sign in" session={null}>
    <h1>Sign in</h1>
    {notice && (
      <p class="msg" role="status">
        {notice}
      </p>
    )}
    {message && (
      <p class="msg err" role="alert">
        {message}
      </p>
    )}
    <form method="post" action="/console/sign-in" class="stack">
      <Field id="f-token" label="API token" hint="An admin, operator or viewer token (ebt_…). The console acts with exactly its rights.">
        <input id="f-token" type="password" name="token" required maxlength={256} autocomplete="current-password" aria-describedby="f-token-hint" autofocus />
      </Field>
      <div>
        <button type="submit">Sign in</button>
      </div>
    </form>
  </Layout>
);

export const ErrorPage: FC<{ session: ConsoleSession | null; status: number; message: string; issues: { path: string; message: string }[]; requestId: string }> = ({
  session,
  status,
  message,
  issues,
  requestId,
}) => (
  <Layout title={`Error ${status}`} session={session}>
    <h1>{TITLES[status] ?? `Error ${status}`}</h1>
    <Problems message={message} issues={issues} />
    <p class="muted">
      Request id <span class="mono">{requestId}</span>
    </p>
    <p>
      <a href="/console">Back to the overview</a>
    </p>
  </Layout>
);

const TITLES: Record<number, string> = {
  400: 'That request was not valid',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  500: 'Something went wrong',
};
