import type { z } from 'zod';
import { AssignmentCreate, AssignmentPatch } from '../../../shared/schemas/assignment.ts';
import { ImageCreate } from '../../../shared/schemas/image.ts';
import { ProfileCreate } from '../../../shared/schemas/profile.ts';
import { TokenCreate } from '../../../shared/schemas/access.ts';
import { MachineCreate, MachinePatch } from '../../../shared/schemas/machine.ts';
import { SiteCreate, SitePatch } from '../../../shared/schemas/site.ts';
import { WebhookCreate } from '../../../shared/schemas/webhook.ts';
import type { Issue } from '../errors.ts';

/**
 * Form fields → API bodies, checked with the API's own zod schemas so a person sees the same
 * messages the API would give (the API checks again, and its answer is shown if it still refuses:
 * references, conflicts, permissions). Pure: no request, no database.
 */

/** A parsed form body: repeated keys are arrays; uploaded files are not expected here. */
export type FormData = Record<string, string | File | (string | File)[]>;

export function field(f: FormData, name: string): string {
  const v = f[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : '';
}

export function fields(f: FormData, name: string): string[] {
  const v = f[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string' && x !== '');
}

export type Parsed<T> = { ok: true; body: T } | { ok: false; issues: Issue[] };

function check<S extends z.ZodType>(schema: S, input: unknown, extra: Issue[] = []): Parsed<z.input<S>> {
  const r = schema.safeParse(input);
  const issues = [...extra, ...(r.success ? [] : r.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.') || '(form)', message: i.message })))];
  // The input, not the parsed value: the API applies its own defaults and transforms.
  return issues.length === 0 ? { ok: true, body: input as z.input<S> } : { ok: false, issues };
}

/** `rack=r12, env=prod` (commas or new lines) → {rack: 'r12', env: 'prod'}. */
export function parseLabels(text: string): { labels: Record<string, string>; issues: Issue[] } {
  const labels: Record<string, string> = {};
  const issues: Issue[] = [];
  for (const part of text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at <= 0) issues.push({ path: 'selector.labels', message: `"${part.slice(0, 40)}" is not key=value` });
    else labels[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return { labels, issues };
}

function integer(text: string, path: string, issues: Issue[]): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) {
    issues.push({ path, message: 'a whole number' });
    return undefined;
  }
  return n;
}

/** The assignment form of the Assignments page: a profile and a selector. */
export function assignmentCreate(f: FormData): Parsed<z.input<typeof AssignmentCreate>> {
  const issues: Issue[] = [];
  const selector: Record<string, unknown> = {};
  for (const key of ['machineId', 'mac', 'siteId', 'arch'] as const) {
    const v = field(f, key).trim();
    if (v) selector[key] = v;
  }
  const labelsText = field(f, 'labels');
  if (labelsText.trim()) {
    const { labels, issues: li } = parseLabels(labelsText);
    issues.push(...li);
    selector.labels = labels;
  }
  const priority = integer(field(f, 'priority'), 'priority', issues);
  // A selector naming one machine replaces what that machine had, as `edgeboot assign` does, unless "add" is ticked.
  const replace = (selector.mac !== undefined || selector.machineId !== undefined) && field(f, 'add') !== 'on';
  const body = { profileId: field(f, 'profileId'), selector, once: field(f, 'once') === 'on', ...(priority === undefined ? {} : { priority }), ...(replace ? { replace } : {}) };
  return check(AssignmentCreate, body, issues);
}

/** "Assign a profile" on a machine's page: that machine, exactly. */
export function machineAssignment(f: FormData, machineId: string): Parsed<z.input<typeof AssignmentCreate>> {
  // replace: the machine boots what the person just chose, not that beside what it had (issue 17).
  return check(AssignmentCreate, { profileId: field(f, 'profileId'), selector: { machineId }, once: field(f, 'once') === 'on', replace: true });
}

export function assignmentPatch(f: FormData): Parsed<z.input<typeof AssignmentPatch>> {
  const issues: Issue[] = [];
  const priority = integer(field(f, 'priority'), 'priority', issues);
  return check(AssignmentPatch, { profileId: field(f, 'profileId'), once: field(f, 'once') === 'on', ...(priority === undefined ? {} : { priority }) }, issues);
}

/** Kinds the form builds from plain fields; the others are written as JSON in the spec box. */
export const FRIENDLY_KINDS = ['linux', 'ipxe', 'local'] as const;

/**
 * The profile form: either the spec as JSON (any kind, so new kinds work without a form change),
 * or, with the JSON box empty, a spec built from the fields of the common kinds.
 */
export function profileBody(f: FormData): Parsed<z.input<typeof ProfileCreate>> {
  const issues: Issue[] = [];
  const kind = field(f, 'kind');
  const json = field(f, 'spec').trim();
  let spec: unknown;
  if (json) {
    try {
      spec = JSON.parse(json);
    } catch (err) {
      return { ok: false, issues: [{ path: 'spec', message: `not valid JSON: ${(err as Error).message.slice(0, 200)}` }] };
    }
    if (spec && typeof spec === 'object' && !Array.isArray(spec) && !('kind' in spec) && kind) spec = { kind, ...spec };
  } else if (kind === 'linux') {
    // Empty selects mean "none" (shim, grub) and "from the kernel" (arch): left out of the spec.
    const optional = Object.fromEntries((['shim', 'grub', 'arch'] as const).map((k) => [k, field(f, k)]).filter(([, v]) => v !== ''));
    spec = { kind, kernel: field(f, 'kernel'), initrds: fields(f, 'initrds'), cmdline: field(f, 'cmdline'), ...optional };
  } else if (kind === 'ipxe') {
    spec = { kind, script: field(f, 'script') };
  } else if (kind === 'local') {
    spec = { kind };
  } else {
    issues.push({ path: 'spec', message: kind ? `write the ${kind} spec as JSON` : 'choose a kind, or write the spec as JSON' });
  }
  const description = field(f, 'description');
  return check(ProfileCreate, { name: field(f, 'name').trim(), ...(description ? { description } : {}), spec }, issues);
}

/**
 * The BMC form → PUT …/bmc. The password never reaches the server: the page's script seals it to each
 * relay in the browser and sends only `credentials` (a JSON array of { relayId, sealed }). Without
 * the script that field is empty, and the form says setting a BMC needs JavaScript.
 */
export function bmcSet(f: FormData): Parsed<unknown> | { ok: false; noScript: true } {
  const text = field(f, 'credentials');
  if (text === '') return { ok: false, noScript: true };
  let credentials: unknown;
  try {
    credentials = JSON.parse(text);
  } catch {
    return { ok: false, issues: [{ path: 'credentials', message: 'the sealed password is not JSON: reload the page and try again' }] };
  }
  const optional = (name: string) => field(f, name).trim() || null;
  return { ok: true, body: { protocol: field(f, 'protocol'), address: field(f, 'address').trim(), username: field(f, 'username').trim(), systemId: optional('systemId'), tlsFingerprint: optional('tlsFingerprint'), credentials } };
}

export function imageCreate(f: FormData): Parsed<z.input<typeof ImageCreate>> {
  const contentType = field(f, 'contentType').trim();
  return check(ImageCreate, { name: field(f, 'name').trim(), kind: field(f, 'kind') || undefined, ...(contentType ? { contentType } : {}) });
}

export function siteDefault(f: FormData): Parsed<z.input<typeof SitePatch>> {
  const id = field(f, 'defaultProfileId');
  return check(SitePatch, { defaultProfileId: id === '' ? null : id });
}

/** The site form (create and edit): a name and an optional description. */
export function siteBody(f: FormData): Parsed<z.input<typeof SiteCreate>> {
  const description = field(f, 'description').trim();
  return check(SiteCreate, { name: field(f, 'name').trim(), ...(description ? { description } : {}) });
}

/** Hostname, site and labels: the fields a person edits on a machine (the rest comes from its boots). */
function machineFields(f: FormData, issues: Issue[]) {
  const { labels, issues: li } = parseLabels(field(f, 'labels'));
  issues.push(...li.map((i) => ({ ...i, path: 'labels' })));
  const hostname = field(f, 'hostname').trim();
  const siteId = field(f, 'siteId');
  return { hostname: hostname === '' ? null : hostname, siteId: siteId === '' ? null : siteId, labels };
}

export function machineCreate(f: FormData): Parsed<z.input<typeof MachineCreate>> {
  const issues: Issue[] = [];
  const arch = field(f, 'arch');
  return check(MachineCreate, { mac: field(f, 'mac').trim(), ...machineFields(f, issues), ...(arch ? { arch } : {}) }, issues);
}

export function machinePatch(f: FormData): Parsed<z.input<typeof MachinePatch>> {
  const issues: Issue[] = [];
  return check(MachinePatch, machineFields(f, issues), issues);
}

/** A token: name, role, and the sites it is confined to (none ticked: every site). */
export function tokenCreate(f: FormData): Parsed<z.input<typeof TokenCreate>> {
  const issues: Issue[] = [];
  const siteIds = fields(f, 'siteIds');
  const days = integer(field(f, 'expiresInDays'), 'expiresInDays', issues);
  return check(
    TokenCreate,
    { name: field(f, 'name').trim(), role: field(f, 'role'), ...(siteIds.length ? { siteIds } : {}), ...(days === undefined ? {} : { expiresInSeconds: days * 86400 }) },
    issues,
  );
}

/** A webhook: its URL, one site or the whole fleet, and the events (none ticked: all of them). */
export function webhookCreate(f: FormData): Parsed<z.input<typeof WebhookCreate>> {
  const events = fields(f, 'events');
  const description = field(f, 'description').trim();
  const siteId = field(f, 'siteId');
  return check(WebhookCreate, {
    url: field(f, 'url').trim(),
    siteId: siteId === '' ? null : siteId,
    ...(events.length ? { events } : {}),
    ...(description ? { description } : {}),
  });
}
