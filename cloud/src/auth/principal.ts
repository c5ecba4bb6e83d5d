import type { Role } from '../../../shared/schemas/access.ts';
import { AppError } from '../errors.ts';

/** Who is calling, as resolved from a bearer token. */
export interface Principal {
  tokenId: string;
  role: Role;
  /** Sites the caller is limited to; null = every site (admins, fleet-wide viewers). */
  siteIds: readonly string[] | null;
  /** For relay tokens: the relay it belongs to (its site is siteIds[0]). */
  relayId: string | null;
}

/** Whether the caller may see objects of `siteId` (null = objects that belong to no site). */
export function canReadSite(p: Principal, siteId: string | null): boolean {
  if (p.role === 'relay') return false;
  if (p.siteIds === null) return true;
  return siteId !== null && p.siteIds.includes(siteId);
}

/** Whether the caller may change objects of `siteId`. Objects of no site are admin-only. */
export function canWriteSite(p: Principal, siteId: string | null): boolean {
  if (p.role === 'admin') return true;
  if (p.role !== 'operator') return false;
  return siteId !== null && p.siteIds !== null && p.siteIds.includes(siteId);
}

/**
 * Reading the global catalog (images, profiles): every human role. Relay tokens are already
 * confined to /v1/relay/ (confine.ts); this keeps the catalog closed should a route move.
 */
export function assertCatalogRead(p: Principal): void {
  if (p.role === 'relay') throw new AppError('forbidden', 'relay tokens may only use /v1/relay/ endpoints');
}

/**
 * Throws unless the caller may read `siteId`'s object. A caller who may not read it gets 404, not
 * 403: another site's objects must not be confirmed to exist.
 */
export function assertRead(p: Principal, siteId: string | null, what: string): void {
  if (!canReadSite(p, siteId)) throw new AppError('not_found', `${what} not found`);
}

/** Throws 404 if the caller cannot even see the object, 403 if it can see but not change it. */
export function assertWrite(p: Principal, siteId: string | null, what: string): void {
  assertRead(p, siteId, what);
  if (!canWriteSite(p, siteId)) throw new AppError('forbidden', `your token may not change this ${what}`);
}

/** "an admin or operator token": the article follows the first role's sound. */
export function roleNeeded(roles: readonly Role[]): string {
  const first = roles[0] ?? '';
  return `${/^[aeiou]/.test(first) ? 'an' : 'a'} ${roles.join(' or ')} token`;
}

/** Throws 403 unless the caller has one of the roles. */
export function assertRole(p: Principal, ...roles: Role[]): void {
  if (!roles.includes(p.role)) throw new AppError('forbidden', `this needs ${roleNeeded(roles)}`);
}

/**
 * A SQL condition limiting a site column to what the caller may read, with its params.
 * `column IS NULL` rows (no site) are only for callers without a site limit.
 */
export function siteScope(p: Principal, column: string): { clause: string; params: string[] } {
  if (p.siteIds === null) return { clause: '1=1', params: [] };
  // One bound parameter whatever the number of sites: D1 allows at most 100 per query.
  return { clause: `${column} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(p.siteIds)] };
}
