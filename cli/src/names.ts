/**
 * Id → name lookups for tables: a machine list shows "lyon", not "site_01j…". Each catalog is
 * fetched once per command, only when a table needs it, and a lookup that fails (a token that
 * may not list profiles) falls back to showing ids.
 */
import type { ApiClient } from './api-client.ts';

export type NameOf = (id: string | null | undefined) => string | null;

export async function namesOf(api: ApiClient, path: '/v1/sites' | '/v1/profiles' | '/v1/images'): Promise<NameOf> {
  let map = new Map<string, string>();
  try {
    map = new Map((await api.list<{ id: string; name: string }>(path)).map((x) => [x.id, x.name]));
  } catch {
    // Only cosmetic: show ids instead.
  }
  return (id) => (id === null || id === undefined ? null : (map.get(id) ?? id));
}
