/**
 * Carries out a plan through the API, in the plan's order, turning the file's names into ids as it
 * goes (a profile created by step 1 is referenced by id in step 5). Only the fields that differ are
 * sent. The first failure stops the run: what was done stays done, and running apply again
 * continues from wherever the fleet then stands.
 *
 * BMC passwords arrive already read (secrets.ts), by MAC, and are sealed here to the site's relays
 * by the code `machines bmc set` uses; they are never part of a step.
 */
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile, ProfileSpec } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import type { ApiClient } from '../api-client.ts';
import { CliError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { setBmc } from '../commands/machine-power.ts';
import { mapSpecRefs } from '../profile-spec.ts';
import type { Current, Step } from './plan.ts';

export interface StepResult {
  step: Step;
  id: string | null;
}

export async function executePlan(
  api: ApiClient,
  steps: readonly Step[],
  current: Current,
  onDone: (r: StepResult) => void,
  passwords: ReadonlyMap<string, string> = new Map(),
): Promise<StepResult[]> {
  const machineIds = new Map(current.machines.map((m) => [m.mac, m.id]));
  const ids = {
    profile: new Map(current.profiles.map((p) => [p.name, p.id])),
    site: new Map(current.sites.map((s) => [s.name, s.id])),
    image: new Map(current.images.map((i) => [i.name, i.id])),
  };
  const idOf = (kind: keyof typeof ids, name: string): string => {
    const id = ids[kind].get(name);
    // The plan checked every reference; a missing one means the fleet changed under us.
    if (!id) throw new CliError(EXIT.ERROR, `${kind} ${name} is gone from the server since the plan was made; run apply again`);
    return id;
  };
  const ref = (kind: 'profile' | 'site', name: unknown): string | null | undefined =>
    name === undefined ? undefined : name === null ? null : idOf(kind, name as string);
  const changed = (s: Step, field: string) => s.changes.some((c) => c.field === field || c.field.startsWith(`${field}.`));
  /** Only the top-level fields that differ, from the desired object. */
  const pick = (s: Step, fields: string[]) => Object.fromEntries(fields.filter((f) => s.action === 'create' || changed(s, f)).map((f) => [f, s.desired![f]]));

  const results: StepResult[] = [];
  for (const s of steps) {
    let id = s.id;
    try {
      if (s.action === 'delete') {
        await api.delete(s.kind === 'bmc' ? `/v1/machines/${s.id}/bmc` : `/v1/${s.kind === 'assignment' ? 'assignments' : `${s.kind}s`}/${s.id}`);
      } else if (s.action !== 'unchanged') {
        id = await write(s);
      }
    } catch (err) {
      if (err instanceof CliError) {
        throw new CliError(err.exitCode, `apply stopped at ${s.action} ${s.kind} ${s.key}: ${err.message}`, {
          details: err.details,
          hint: `${results.filter((r) => r.step.action !== 'unchanged').length} change(s) were made before it; fix the cause and run apply again`,
        });
      }
      throw err;
    }
    const r = { step: s, id };
    results.push(r);
    onDone(r);
  }
  return results;

  async function write(s: Step): Promise<string> {
    const d = s.desired!;
    const create = s.action === 'create';
    switch (s.kind) {
      case 'profile': {
        const body: Record<string, unknown> = pick(s, ['description', 'spec']);
        if (body.spec) body.spec = mapSpecRefs(body.spec as ProfileSpec, (r) => idOf('image', r), (r) => idOf('profile', r));
        const p = create ? await api.post<Profile>('/v1/profiles', { name: s.key, ...body }) : await api.patch<Profile>(`/v1/profiles/${s.id}`, body);
        ids.profile.set(p.name, p.id);
        return p.id;
      }
      case 'site': {
        const body: Record<string, unknown> = pick(s, ['description', 'defaultProfile']);
        if ('defaultProfile' in body) {
          body.defaultProfileId = ref('profile', body.defaultProfile);
          delete body.defaultProfile;
        }
        const site = create ? await api.post<Site>('/v1/sites', { name: s.key, ...body }) : await api.patch<Site>(`/v1/sites/${s.id}`, body);
        ids.site.set(site.name, site.id);
        return site.id;
      }
      case 'machine': {
        const body: Record<string, unknown> = pick(s, ['site', 'hostname', 'labels', 'arch', 'uuid', 'serial', 'secureBoot']);
        if ('site' in body) {
          body.siteId = ref('site', body.site);
          delete body.site;
        }
        const m = create ? await api.post<Machine>('/v1/machines', { mac: s.key, ...body }) : await api.patch<Machine>(`/v1/machines/${s.id}`, body);
        machineIds.set(m.mac, m.id);
        return m.id;
      }
      case 'bmc': {
        const machineId = machineIds.get(s.key);
        const password = passwords.get(s.key);
        if (!machineId) throw new CliError(EXIT.ERROR, `machine ${s.key} is gone from the server since the plan was made; run apply again`);
        if (password === undefined) throw new Error(`no password was read for the BMC of ${s.key}`);
        const b = await setBmc(api, { id: machineId }, {
          protocol: d.protocol as 'ipmi' | 'redfish',
          address: d.address as string,
          username: d.user as string,
          password,
          systemId: (d.systemId as string | null) ?? undefined,
          tlsFingerprint: (d.tlsFingerprint as string | null) ?? undefined,
        });
        return b.machineId;
      }
      case 'assignment': {
        const body: Record<string, unknown> = pick(s, ['profile', 'once', 'priority']);
        if ('profile' in body) {
          body.profileId = idOf('profile', body.profile as string);
          delete body.profile;
        }
        if (!create) return (await api.patch<Assignment>(`/v1/assignments/${s.id}`, body)).id;
        const sel = d.selector as { mac?: string; site?: string; labels?: Record<string, string>; arch?: string };
        const selector = { mac: sel.mac, siteId: sel.site === undefined ? undefined : idOf('site', sel.site), labels: sel.labels, arch: sel.arch };
        return (await api.post<Assignment>('/v1/assignments', { ...body, selector })).id;
      }
    }
  }
}
