/**
 * What `apply` would change: a pure function of the fleet file and the objects the API has now,
 * computed by name (sites, profiles, images) and MAC, never by server id, so that the same file
 * gives the same plan on any control plane and a dry run can show references to objects that do
 * not exist yet.
 *
 * Identity: sites and profiles by name, machines by MAC, assignments by selector. Fields the file
 * leaves out are not managed (a machine's hostname stays what the relay or a person set). With
 * `prune`, objects of a section the file has but does not list are deleted; sections the file
 * does not have are never pruned.
 *
 * BMCs (a machine's `bmc`): the cloud keeps the password only sealed, so the plan cannot compare
 * passwords. It compares what it can read back (protocol, address, user, system id, fingerprint) and
 * seals the password again only when one of those changes, when a relay of the site holds no sealed
 * copy (`missingFor`: a relay enrolled later), when the machine moves to another site, or with
 * `reseal` (e.g. after the password was changed on the BMC). Otherwise the BMC is unchanged and no
 * call is made.
 */
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { Bmc } from '../../../shared/schemas/bmc.ts';
import type { Image } from '../../../shared/schemas/image.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile, ProfileSpec } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { mapSpecRefs } from '../profile-spec.ts';
import { selectorKey, type Fleet, type FleetBmc, type Path } from './file.ts';

export interface Current {
  sites: Site[];
  profiles: Profile[];
  images: Image[];
  machines: Machine[];
  assignments: Assignment[];
  /** The BMCs of the file's existing machines that have a `bmc` entry (only those are read). */
  bmcs: Bmc[];
}

export type Kind = 'profile' | 'site' | 'machine' | 'bmc' | 'assignment';
export type Action = 'create' | 'update' | 'unchanged' | 'delete';

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export interface Step {
  kind: Kind;
  action: Action;
  /** Name, MAC or selector: how the file (and the output) names the object. */
  key: string;
  /** The server's id, for updates, deletes and unchanged objects. */
  id: string | null;
  /** Field by field, in the file's terms (names, not ids); for a create, every field it sets. */
  changes: FieldChange[];
  /** The object as the file wants it, by name (create and update). */
  desired: Record<string, unknown> | null;
  /** Where in the file (for errors while applying). */
  path: Path | null;
}

export interface Problem {
  path: Path;
  message: string;
}

export interface Plan {
  steps: Step[];
  problems: Problem[];
}

export interface PlanSummary {
  create: number;
  update: number;
  delete: number;
  unchanged: number;
}

export function summarize(steps: readonly Step[]): PlanSummary {
  const s: PlanSummary = { create: 0, update: 0, delete: 0, unchanged: 0 };
  for (const step of steps) s[step.action]++;
  return s;
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Field-level differences between `from` and `to`, descending into objects (labels, spec) so that
 * one changed label is one line; arrays are compared whole. Keys absent from `to` are not managed
 * and never reported, unless `exact` (inside a managed object, e.g. labels, a key that goes away
 * is a change).
 */
export function diffFields(prefix: string, from: unknown, to: unknown, exact = false): FieldChange[] {
  if (isPlain(to) && isPlain(from)) {
    const keys = new Set([...Object.keys(to), ...(exact ? Object.keys(from) : [])]);
    return [...keys].sort().flatMap((k) => (to[k] === undefined && !exact ? [] : diffFields(prefix ? `${prefix}.${k}` : k, from[k], to[k], true)));
  }
  if (to === undefined && !exact) return [];
  return JSON.stringify(from ?? null) === JSON.stringify(to ?? null) ? [] : [{ field: prefix, from: from ?? null, to: to ?? null }];
}

/** Name lookups, resolving a reference given by name or (for existing objects) by id. */
function index<T extends { id: string; name: string }>(items: readonly T[]) {
  const byId = new Map(items.map((x) => [x.id, x.name]));
  const names = new Set(items.map((x) => x.name));
  return {
    /** The name of an existing object named or identified by `ref`, or null. */
    name: (ref: string): string | null => (names.has(ref) ? ref : (byId.get(ref) ?? null)),
    /** For showing what the server has: its name, or the raw id if it is unknown. */
    show: (id: string | null): string | null => (id === null ? null : (byId.get(id) ?? id)),
  };
}

const withoutArch = (spec: ProfileSpec): ProfileSpec => {
  const { arch: _arch, ...rest } = spec as ProfileSpec & { arch?: unknown };
  return rest as ProfileSpec;
};

const withoutUndefined = (o: Plain): Plain => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Where the password comes from, as the plan shows it (never the password). */
export const passwordSource = (b: FleetBmc): string => (b.passwordEnv !== undefined ? `env ${b.passwordEnv}` : `file ${b.passwordFile}`);

export function planFleet(fleet: Fleet, current: Current, opts: { prune?: boolean; reseal?: boolean } = {}): Plan {
  const problems: Problem[] = [];
  const steps: Step[] = [];
  const images = index(current.images);
  const profiles = index(current.profiles);
  const sites = index(current.sites);
  const fileProfiles = new Set((fleet.profiles ?? []).map((p) => p.name));
  const fileSites = new Set((fleet.sites ?? []).map((s) => s.name));

  /** A profile/site reference from the file, by name: one the file defines, or one that exists. */
  const profileRef = (ref: string, path: Path): string => {
    if (fileProfiles.has(ref)) return ref;
    const n = profiles.name(ref);
    if (n === null) problems.push({ path, message: `no profile named ${JSON.stringify(ref)} in the file or on the server` });
    return n ?? ref;
  };
  const siteRef = (ref: string, path: Path): string => {
    if (fileSites.has(ref)) return ref;
    const n = sites.name(ref);
    if (n === null) problems.push({ path, message: `no site named ${JSON.stringify(ref)} in the file or on the server` });
    return n ?? ref;
  };
  const imageRef = (ref: string, path: Path): string => {
    const n = images.name(ref);
    if (n === null) problems.push({ path, message: `no image named ${JSON.stringify(ref)} on the server (upload it first: edgeboot images upload FILE --name ${ref})` });
    return n ?? ref;
  };
  const relPath = (base: Path, dotted: string): Path => [...base, ...dotted.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))];

  const step = (kind: Kind, key: string, path: Path | null, id: string | null, from: Plain | null, desired: Plain, exactKeys: string[] = []): Step => {
    const to = withoutUndefined(desired);
    if (!from) return { kind, action: 'create', key, id: null, changes: diffFields('', {}, to), desired: to, path };
    const changes = Object.keys(to)
      .sort()
      .flatMap((k) => diffFields(k, from[k], to[k], exactKeys.includes(k)));
    return { kind, action: changes.length > 0 ? 'update' : 'unchanged', key, id, changes, desired: to, path };
  };

  // Profiles first (sites and assignments point at them), menus after the profiles they list.
  const profileSteps: Step[] = [];
  fleet.profiles?.forEach((p, i) => {
    const path: Path = ['profiles', i];
    const spec = mapSpecRefs(p.spec, (r, at) => imageRef(r, relPath(path, at)), (r, at) => profileRef(r, relPath(path, at)));
    const have = current.profiles.find((x) => x.name === p.name);
    // An arch the file leaves out is the server's to fill in (from the kernel image): not a change.
    const haveSpec = have && !('arch' in p.spec && p.spec.arch !== undefined) ? withoutArch(have.spec) : have?.spec;
    const from = have ? { description: have.description, spec: mapSpecRefs(haveSpec!, (r) => images.show(r) ?? r, (r) => profiles.show(r) ?? r) } : null;
    // A spec is replaced whole by the API: every field in it is managed.
    profileSteps.push(step('profile', p.name, path, have?.id ?? null, from, { description: p.description, spec }, ['spec']));
  });
  steps.push(...orderMenus(profileSteps, problems));

  fleet.sites?.forEach((s, i) => {
    const path: Path = ['sites', i];
    const have = current.sites.find((x) => x.name === s.name);
    const from = have ? { description: have.description, defaultProfile: profiles.show(have.defaultProfileId) } : null;
    const defaultProfile = s.defaultProfile === undefined || s.defaultProfile === null ? s.defaultProfile : profileRef(s.defaultProfile, [...path, 'defaultProfile']);
    steps.push(step('site', s.name, path, have?.id ?? null, from, { description: s.description, defaultProfile }));
  });

  const bmcSteps: Step[] = [];
  fleet.machines?.forEach((m, i) => {
    const path: Path = ['machines', i];
    const have = current.machines.find((x) => x.mac === m.mac);
    const from = have ? { site: sites.show(have.siteId), hostname: have.hostname, labels: have.labels, arch: have.arch, uuid: have.uuid, serial: have.serial, secureBoot: have.secureBoot } : null;
    const site = m.site === undefined || m.site === null ? m.site : siteRef(m.site, [...path, 'site']);
    const machineStep = step('machine', m.mac, path, have?.id ?? null, from, { site, hostname: m.hostname, labels: m.labels, arch: m.arch, uuid: m.uuid, serial: m.serial, secureBoot: m.secureBoot }, ['labels']);
    steps.push(machineStep);
    if (m.bmc === undefined) return;
    const bmcPath: Path = [...path, 'bmc'];
    const haveBmc = have ? current.bmcs.find((b) => b.machineId === have.id) : undefined;
    if (m.bmc === null) {
      bmcSteps.push({ kind: 'bmc', action: haveBmc ? 'delete' : 'unchanged', key: m.mac, id: haveBmc ? have!.id : null, changes: [], desired: null, path: bmcPath });
      return;
    }
    if ((site === undefined ? sites.show(have?.siteId ?? null) : site) === null) {
      problems.push({ path: bmcPath, message: "a BMC needs the machine's site: the site's relays are the ones that reach it (give the machine a site)" });
    }
    bmcSteps.push(bmcStep(m.mac, bmcPath, have?.id ?? null, m.bmc, haveBmc, { movesSite: machineStep.changes.some((c) => c.field === 'site'), reseal: opts.reseal === true }));
  });
  steps.push(...bmcSteps);

  const currentByKey = new Map<string, Assignment[]>();
  for (const a of current.assignments) {
    const k = selectorKey({ ...a.selector, site: sites.show(a.selector.siteId ?? null) ?? undefined });
    currentByKey.set(k, [...(currentByKey.get(k) ?? []), a]);
  }
  const matched = new Set<string>();
  fleet.assignments?.forEach((a, i) => {
    const path: Path = ['assignments', i];
    const selector = { ...a.selector, site: a.selector.site === undefined ? undefined : siteRef(a.selector.site, [...path, 'selector', 'site']) };
    const key = selectorKey(selector);
    // Several assignments with one selector: the oldest is the file's; the others are extras (pruned).
    const have = currentByKey.get(key)?.[0];
    if (have) matched.add(have.id);
    const from = have ? { profile: profiles.show(have.profileId), once: have.once, priority: have.priority } : null;
    const s = step('assignment', key, path, have?.id ?? null, from, { profile: profileRef(a.profile, [...path, 'profile']), once: a.once, priority: a.priority });
    if (s.action === 'create') s.desired = { ...s.desired, selector: withoutUndefined(selector) };
    steps.push(s);
  });

  if (opts.prune) {
    const del = (kind: Kind, key: string, id: string): Step => ({ kind, action: 'delete', key, id, changes: [], desired: null, path: null });
    const names = (xs: readonly { name?: string; mac?: string }[] | undefined) => new Set((xs ?? []).map((x) => x.name ?? x.mac));
    if (fleet.assignments) {
      for (const a of current.assignments) {
        if (!matched.has(a.id)) steps.push(del('assignment', selectorKey({ ...a.selector, site: sites.show(a.selector.siteId ?? null) ?? undefined }), a.id));
      }
    }
    if (fleet.machines) {
      const keep = names(fleet.machines);
      for (const m of current.machines) if (!keep.has(m.mac)) steps.push(del('machine', m.mac, m.id));
    }
    if (fleet.sites) {
      const keep = names(fleet.sites);
      for (const s of current.sites) if (!keep.has(s.name)) steps.push(del('site', s.name, s.id));
    }
    if (fleet.profiles) {
      // Menus go before the profiles they list, or the API would refuse those as still in use.
      const gone = current.profiles.filter((p) => !fileProfiles.has(p.name));
      gone.sort((a, b) => Number(b.spec.kind === 'menu') - Number(a.spec.kind === 'menu'));
      for (const p of gone) steps.push(del('profile', p.name, p.id));
    }
  }
  return { steps, problems };
}

/**
 * A BMC's step. The readable fields are compared as for any object; the password (which only the
 * relays can open) is a change of its own whenever it must be sealed again, with the reason.
 */
function bmcStep(mac: string, path: Path, machineId: string | null, b: FleetBmc, have: Bmc | undefined, o: { movesSite: boolean; reseal: boolean }): Step {
  const desired: Plain = {
    protocol: b.ipmi !== undefined ? 'ipmi' : 'redfish',
    address: b.ipmi ?? b.redfish,
    user: b.user,
    systemId: b.systemId ?? null,
    tlsFingerprint: b.tlsFingerprint ?? null,
  };
  const source = passwordSource(b);
  if (!have) {
    return { kind: 'bmc', action: 'create', key: mac, id: null, changes: [...diffFields('', {}, desired), { field: 'password', from: null, to: `sealed from ${source}` }], desired: { ...desired, source }, path };
  }
  const from: Plain = { protocol: have.protocol, address: have.address, user: have.username, systemId: have.systemId, tlsFingerprint: have.tlsFingerprint };
  const changes = Object.keys(desired).flatMap((k) => diffFields(k, from[k], desired[k], true));
  const why =
    changes.length > 0 ? 'the BMC changed'
    : o.movesSite ? 'the machine moves to another site'
    : have.missingFor.length > 0 ? `no sealed copy for relay ${have.missingFor.join(', ')}`
    : o.reseal ? '--reseal'
    : null;
  if (why === null) return { kind: 'bmc', action: 'unchanged', key: mac, id: machineId, changes: [], desired: { ...desired, source }, path };
  const sealedFor = have.sealedFor.length > 0 ? `sealed for ${have.sealedFor.join(', ')}` : 'sealed for no relay';
  changes.push({ field: 'password', from: sealedFor, to: `sealed again from ${source} (${why})` });
  return { kind: 'bmc', action: 'update', key: mac, id: machineId, changes, desired: { ...desired, source }, path };
}

/** Profiles in an order where every menu comes after the file's profiles it lists; cycles are problems. */
function orderMenus(steps: Step[], problems: Problem[]): Step[] {
  const byName = new Map(steps.map((s) => [s.key, s]));
  const deps = (s: Step): string[] => {
    const spec = s.desired?.spec as { kind: string; items?: { profileId: string }[] } | undefined;
    return spec?.kind === 'menu' ? (spec.items ?? []).map((i) => i.profileId).filter((n) => byName.has(n)) : [];
  };
  const out: Step[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: Step, trail: string[]) => {
    const st = state.get(s.key);
    if (st === 'done') return;
    if (st === 'visiting') {
      problems.push({ path: s.path ?? ['profiles'], message: `menus form a cycle: ${[...trail, s.key].join(' → ')}` });
      return;
    }
    state.set(s.key, 'visiting');
    for (const d of deps(s)) visit(byName.get(d)!, [...trail, s.key]);
    state.set(s.key, 'done');
    out.push(s);
  };
  for (const s of steps) visit(s, []);
  return out;
}
