import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { internalPrincipal } from './internal-principal.ts';
import type { Principal } from './principal.ts';
import { sha256Hex, timingSafeEqual } from './secrets.ts';

export interface TokenRow {
  id: string;
  role: Principal['role'];
  site_ids: string | null;
  relay_id: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** last_used_at is a hint for people pruning tokens: a minute's precision costs one write per token per minute. */
const LAST_USED_PRECISION_MS = 60_000;

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,128})$/;

/** Who the configured admin secret (EDGEBOOT_ADMIN_TOKEN) acts as: it has no row in `tokens`. */
export const BOOTSTRAP_PRINCIPAL: Principal = Object.freeze({ tokenId: 'bootstrap', role: 'admin', siteIds: null, relayId: null });

/** The token row of a secret's hash, or null. Shared with the console's sign-in, which checks tokens as the API does. */
export function tokenByHash(db: AppEnv['Variables']['deps']['db'], hash: string): Promise<TokenRow | null> {
  return db.first<TokenRow>(sql('SELECT id, role, site_ids, relay_id, expires_at, revoked_at, last_used_at FROM tokens WHERE hash = ?', hash));
}

export function principalOf(row: Pick<TokenRow, 'id' | 'role' | 'site_ids' | 'relay_id'>): Principal {
  return { tokenId: row.id, role: row.role, siteIds: row.site_ids === null ? null : (JSON.parse(row.site_ids) as string[]), relayId: row.relay_id };
}

/**
 * Resolves the bearer token into `c.get('principal')`. A request with no Authorization header is
 * anonymous (routes that allow it say so; the rest get 401 from `requireAuth`); a header that is
 * malformed, unknown, expired or revoked is always 401.
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // The console's requests to the API carry the principal its session resolved (internal-principal.ts).
    const internal = internalPrincipal(c.req.raw);
    if (internal) {
      c.set('principal', internal);
      return next();
    }
    c.set('principal', null);
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const m = BEARER.exec(header);
      if (!m) throw new AppError('unauthorized', 'Authorization must be "Bearer <token>"');
      c.set('principal', await resolve(c, m[1]!));
    }
    await next();
  };
}

/** 401 for anonymous callers, except on the paths that authenticate otherwise (enrollment codes…). */
export function requireAuth(publicPaths: RegExp): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.get('principal') && !publicPaths.test(c.req.path)) throw new AppError('unauthorized', 'this needs a bearer token (Authorization: Bearer <token>)');
    await next();
  };
}

async function resolve(c: Context<AppEnv>, secret: string): Promise<Principal> {
  const deps = c.get('deps');
  // The configured admin secret needs no query: compare it first, in constant time.
  if (deps.bootstrapAdminToken && timingSafeEqual(secret, deps.bootstrapAdminToken)) {
    return BOOTSTRAP_PRINCIPAL;
  }
  const hash = sha256Hex(secret);
  const now = deps.clock.now();
  let token = c.get('principals').get(hash, now);
  let fresh = false;
  if (!token) {
    const row = await tokenByHash(deps.db, hash);
    if (!row) throw new AppError('unauthorized', 'unknown token');
    if (row.revoked_at !== null) throw new AppError('unauthorized', 'token revoked');
    token = {
      principal: principalOf(row),
      tokenExpiresAt: row.expires_at,
      lastUsedAt: row.last_used_at,
    };
    fresh = true;
  }
  if (token.tokenExpiresAt !== null && token.tokenExpiresAt <= now) throw new AppError('unauthorized', 'token expired');
  if (token.lastUsedAt === null || now - token.lastUsedAt >= LAST_USED_PRECISION_MS) {
    token.lastUsedAt = now;
    await touch(deps, token.principal.tokenId, now);
  }
  // Cached only now, after last_used_at is settled: the cache keeps its own copy.
  if (fresh) c.get('principals').set(hash, token, now);
  return token.principal;
}

/** The WHERE makes concurrent requests of one token write at most once per minute between them. */
async function touch(deps: AppEnv['Variables']['deps'], id: string, now: number): Promise<void> {
  try {
    await deps.db.batch([
      sql('UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)', now, id, now - LAST_USED_PRECISION_MS),
    ]);
  } catch {
    // A usage hint that cannot be written must not refuse a valid token.
  }
}
