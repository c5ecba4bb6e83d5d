/**
 * Objects several contract files need: sites, tokens of each role, enrolled relays. Made through the
 * API only, like everything in the contract suite (Web-standard, also runs inside workerd).
 */
import { call, unique, type ApiTarget } from './target.ts';

function ok<T = any>(r: { status: number; text: string; body: T }, status: number, what: string): T {
  if (r.status !== status) throw new Error(`fixture: ${what} gave ${r.status}, expected ${status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

export async function createSite(t: ApiTarget, name = unique('site')): Promise<string> {
  return ok(await call(t, 'POST', '/v1/sites', { json: { name } }), 201, 'create site').id;
}

export interface IssuedToken {
  id: string;
  token: string;
}

export async function createToken(
  t: ApiTarget,
  spec: { role: 'admin' | 'operator' | 'viewer'; siteIds?: string[]; expiresInSeconds?: number; name?: string },
): Promise<IssuedToken> {
  const body = ok(await call(t, 'POST', '/v1/tokens', { json: { name: unique(spec.role), ...spec } }), 201, `create ${spec.role} token`);
  return { id: body.id, token: body.token };
}

export async function revokedToken(t: ApiTarget): Promise<IssuedToken> {
  const issued = await createToken(t, { role: 'viewer' });
  ok(await call(t, 'DELETE', `/v1/tokens/${issued.id}`), 204, 'revoke token');
  return issued;
}

export async function enrollmentCode(t: ApiTarget, siteId: string): Promise<string> {
  return ok(await call(t, 'POST', `/v1/sites/${siteId}/enrollment-codes`, { json: {} }), 201, 'create enrollment code').code;
}

export async function enrollRelay(t: ApiTarget, siteId: string): Promise<{ relayId: string; token: string }> {
  const code = await enrollmentCode(t, siteId);
  const body = ok(await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('relay') } }), 201, 'enroll relay');
  return { relayId: body.relay.id, token: body.token };
}

/** A well-formed bearer secret that no target ever issued. */
export function garbageToken(): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  return `ebt_${[...crypto.getRandomValues(new Uint8Array(32))].map((b) => alphabet[b & 31]).join('')}`;
}
