/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { Arch } from '../../../shared/schemas/common.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import type { FormState } from './fleet-pages.tsx';
import { Csrf, described, Field } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

/** The machine forms: add one, edit or delete one, reprovision all of a filter. */
const errOf = (form: FormState | undefined, name: string) => form?.issues.find((i) => i.path === name || i.path.startsWith(`${name}.`))?.message;
const val = (form: FormState | undefined, name: string, fallback = '') => form?.values?.[name] ?? fallback;
const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** Most machines a bulk reprovision touches in one form post (five API pages). */
export const BULK_MAX = 500;

/** Hostname, site and labels, shared by the create and the edit form. */
const MachineFields: FC<{ prefix: string; sites: Site[]; form?: FormState; machine?: Machine }> = ({ prefix, sites, form, machine }) => (
  <>
    <Field id={`${prefix}-hostname`} label="Hostname (optional)" error={errOf(form, 'hostname')}>
      <input id={`${prefix}-hostname`} name="hostname" maxlength={253} value={val(form, 'hostname', machine?.hostname ?? '')} {...described(`${prefix}-hostname`, false, errOf(form, 'hostname'))} />
    </Field>
    <Field id={`${prefix}-siteId`} label="Site" error={errOf(form, 'siteId')}>
      <select id={`${prefix}-siteId`} name="siteId" {...described(`${prefix}-siteId`, false, errOf(form, 'siteId'))}>
        <option value="">No site</option>
        {sites.map((s) => (
          <option value={s.id} selected={val(form, 'siteId', machine?.siteId ?? (sites.length === 1 ? s.id : '')) === s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </Field>
    <Field id={`${prefix}-labels`} label="Labels (optional)" hint="key=value, separated by commas: rack=r12, env=prod" error={errOf(form, 'labels')}>
      <input id={`${prefix}-labels`} name="labels" maxlength={4000} value={val(form, 'labels', machine ? labelText(machine.labels) : '')} {...described(`${prefix}-labels`, true, errOf(form, 'labels'))} />
    </Field>
  </>
);

/** "Add a machine" on the Machines page: known before its first boot, so it can be assigned ahead of it. */
export const MachineNew: FC<{ session: ConsoleSession; sites: Site[]; form?: FormState }> = ({ session, sites, form }) => (
  <section aria-labelledby="h-new-machine" id="new">
    <h2 id="h-new-machine">Add a machine</h2>
    <p class="hint">Machines also appear by themselves when they first netboot at a site with a relay.</p>
    <form method="post" action="/console/machines" class="stack">
      <Csrf session={session} />
      <Field id="m-mac" label="MAC address" hint="e.g. 52:54:00:12:34:56" error={errOf(form, 'mac')}>
        <input id="m-mac" name="mac" required maxlength={40} class="mono" value={val(form, 'mac')} {...described('m-mac', true, errOf(form, 'mac'))} />
      </Field>
      <MachineFields prefix="m" sites={sites} form={form} />
      <Field id="m-arch" label="Architecture" error={errOf(form, 'arch')}>
        <select id="m-arch" name="arch" {...described('m-arch', false, errOf(form, 'arch'))}>
          <option value="">Learn it from its first boot</option>
          {Arch.options.map((a) => (
            <option value={a} selected={val(form, 'arch') === a}>
              {a}
            </option>
          ))}
        </select>
      </Field>
      <div>
        <button type="submit">Add machine</button>
      </div>
    </form>
  </section>
);

/** Edit and delete on a machine's page. */
export const MachineEdit: FC<{ session: ConsoleSession; machine: Machine; sites: Site[]; form?: FormState }> = ({ session, machine, sites, form }) => (
  <section aria-labelledby="h-edit-machine">
    <h2 id="h-edit-machine">Edit machine</h2>
    <div class="grid2">
      <form method="post" action={`/console/machines/${machine.id}/edit`} class="stack">
        <Csrf session={session} />
        <input type="hidden" name="editForm" value="on" />
        <MachineFields prefix="e" sites={sites} form={form?.values?.editForm ? form : undefined} machine={machine} />
        <div>
          <button type="submit">Save machine</button>
        </div>
      </form>
      <form method="post" action={`/console/machines/${machine.id}/delete`}>
        <Csrf session={session} />
        <p class="hint">Deleting forgets the machine and its assignments; it comes back as discovered if it netboots again.</p>
        <button type="submit" class="danger" data-confirm={`Delete the machine ${machine.hostname ?? machine.mac}?`}>
          Delete machine
        </button>
      </form>
    </div>
  </section>
);

/** Reprovision every machine the current filter shows (all its pages, up to BULK_MAX). */
export const BulkReprovision: FC<{ session: ConsoleSession; query: { q: string; state: string; siteId: string; label: string }; count: number; more: boolean }> = ({ session, query, count, more }) =>
  count === 0 ? null : (
    <form method="post" action="/console/machines/reprovision" class="row">
      <Csrf session={session} />
      {Object.entries(query).map(([k, v]) => (
        <input type="hidden" name={k} value={v} />
      ))}
      <button type="submit" class="secondary" data-confirm="Netboot every machine of this filter again on its next power-on?">
        {`Reprovision ${more ? 'all' : count} machine${count === 1 && !more ? '' : 's'} of this filter`}
      </button>
      <span class="hint">Each forgets its completed one-shot assignments and is marked ready.</span>
    </form>
  );

