/**
 * Objects named on the command line by id or by name. Sites, profiles and images have unique
 * names, so a name is as good as an id; machines go by id, MAC (the API accepts both) or an exact
 * hostname when only one machine has it. An id-shaped argument is tried as an id first.
 */
import type { Relay } from '../../shared/schemas/access.ts';
import type { Image } from '../../shared/schemas/image.ts';
import type { Machine } from '../../shared/schemas/machine.ts';
import type { Profile } from '../../shared/schemas/profile.ts';
import type { Site } from '../../shared/schemas/site.ts';
import { idPattern, type IdKind } from '../../shared/ids.ts';
import { normalizeMac } from '../../shared/mac.ts';
import { ApiError, type ApiClient } from './api-client.ts';
import { CliError } from './errors.ts';
import { EXIT } from './exit-codes.ts';

interface Named {
  id: string;
  name: string;
}

async function byIdOrName<T extends Named>(api: ApiClient, kind: IdKind, noun: string, path: string, ref: string): Promise<T> {
  if (idPattern(kind).test(ref)) {
    try {
      return await api.get<T>(`${path}/${ref}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  const matches = (await api.list<T>(path)).filter((x) => x.name === ref);
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new CliError(EXIT.USAGE, `${matches.length} ${noun}s are named ${JSON.stringify(ref)}: ${matches.map((m) => m.id).join(', ')}`, { hint: 'name it by id' });
  }
  throw new CliError(EXIT.NOT_FOUND, `no ${noun} named or with id ${JSON.stringify(ref)}`, { hint: `\`edgeboot ${path.replace('/v1/', '')} list\` shows the ${noun}s this token can see` });
}

export const resolveSite = (api: ApiClient, ref: string) => byIdOrName<Site>(api, 'site', 'site', '/v1/sites', ref);
export const resolveProfile = (api: ApiClient, ref: string) => byIdOrName<Profile>(api, 'profile', 'profile', '/v1/profiles', ref);
export const resolveImage = (api: ApiClient, ref: string) => byIdOrName<Image>(api, 'image', 'image', '/v1/images', ref);
export const resolveRelay = (api: ApiClient, ref: string) => byIdOrName<Relay>(api, 'relay', 'relay', '/v1/relays', ref);

export async function resolveMachine(api: ApiClient, ref: string): Promise<Machine> {
  if (idPattern('machine').test(ref) || normalizeMac(ref)) return api.get<Machine>(`/v1/machines/${encodeURIComponent(ref)}`);
  // A hostname: the list's `q` is a prefix match, so keep only exact (case-insensitive) ones.
  if (!/^[A-Za-z0-9.:-]{1,64}$/.test(ref)) throw new CliError(EXIT.USAGE, `${JSON.stringify(ref)} is not a machine id, MAC or hostname`);
  const found = (await api.list<Machine>('/v1/machines', { q: ref })).filter((m) => m.hostname?.toLowerCase() === ref.toLowerCase());
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new CliError(EXIT.USAGE, `${found.length} machines have hostname ${ref}: ${found.map((m) => `${m.id} (${m.mac})`).join(', ')}`, { hint: 'name it by id or MAC' });
  throw new CliError(EXIT.NOT_FOUND, `no machine with id, MAC or hostname ${JSON.stringify(ref)}`, { hint: '`edgeboot machines list` shows the machines this token can see' });
}
