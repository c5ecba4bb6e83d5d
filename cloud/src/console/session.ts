import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { randomBase32 } from '../../../shared/ids.ts';
import { BOOTSTRAP_PRINCIPAL, principalOf, tokenByHash } from '../auth/authenticate.ts';
import type { Principal } from '../auth/principal.ts';
import { sha256Hex, timingSafeEqual } from '../auth/secrets.ts';
import type { AppEnv } from '../context.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import type { FormData } from './forms.ts';

/**
 * Console sessions: a random id in an HttpOnly, Secure, SameSite=Lax cookie; the database keeps its
 * hash, the token it acts as and a CSRF secret (migrations/0004). The session resolves to the same
 * Principal the API's bearer middleware would produce for that token, and every check the API makes
 * is then made by the API itself (console requests go through its routes: internal-principal.ts).
 */

/** `__Host-`: the browser keeps it only if Secure, for Path=/ and this exact host (no Domain). */
export const SESSION_COOKIE = '__Host-edgeboot-console';
/** Ends a session nobody used for this long. */
export const IDLE_MS = 4 * 3600_000;
/** Ends any session this long after sign-in, however busy. */
export const ABSOLUTE_MS = 12 * 3600_000;
/** Sliding the idle expiry costs a write: at most one per session per minute. */
const TOUCH_PRECISION_MS = 60_000;

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const SESSION_ID = /^[0-9a-z]{32}$/;

export interface ConsoleSession {
  idHash: string;
  principal: Principal;
  csrf: string;
}

export interface ConsoleEnv extends AppEnv {
  Variables: AppEnv['Variables'] & {
    session: ConsoleSession | null;
    /** The posted form, parsed once by the CSRF check. */
    form: FormData;
  };
}

/** Why there is no session, for the sign-in page. */
export type NoSession = 'none' | 'ended';

interface SessionRow {
  id_hash: string;
  token_id: string;
  token_hash: string;
  csrf: string;
  last_seen_at: number;
  idle_expires_at: number;
  expires_at: number;
  role: Principal['role'] | null;
  site_ids: string | null;
  relay_id: string | null;
  token_expires_at: number | null;
  revoked_at: number | null;
}

export type SignInResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/**
 * Checks a token as the API would (bootstrap secret, else the tokens table: known, not revoked, not
 * expired) and, when it is a person's token, opens a session for it and sets the cookie.
 */
export async function signIn(c: Context<ConsoleEnv>, input: string): Promise<SignInResult> {
  const { db, clock, bootstrapAdminToken } = c.get('deps');
  const secret = input.trim();
  const now = clock.now();
  if (!TOKEN.test(secret)) return { ok: false, reason: 'That is not an API token (they look like ebt_ followed by 32 letters and digits).' };
  const tokenHash = sha256Hex(secret);
  let principal: Principal;
  if (bootstrapAdminToken && timingSafeEqual(secret, bootstrapAdminToken)) {
    principal = BOOTSTRAP_PRINCIPAL;
  } else {
    const row = await tokenByHash(db, tokenHash);
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) {
      return { ok: false, reason: 'That token is not valid: unknown, expired or revoked.' };
    }
    principal = principalOf(row);
  }
  if (principal.role === 'relay') return { ok: false, reason: 'Relay tokens cannot sign in to the console; use a person’s token (admin, operator or viewer).' };
  const id = randomBase32(32);
  const csrf = randomBase32(32);
  await db.batch([
    // Sign-in is rare: a good moment to forget sessions that ended on their own.
    sql('DELETE FROM console_sessions WHERE expires_at <= ? OR idle_expires_at <= ?', now, now),
    sql(
      'INSERT INTO console_sessions (id_hash, token_id, token_hash, csrf, created_at, last_seen_at, idle_expires_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      sha256Hex(id),
      principal.tokenId,
      tokenHash,
      csrf,
      now,
      now,
      now + IDLE_MS,
      now + ABSOLUTE_MS,
    ),
  ]);
  // No Max-Age: the browser forgets it when it closes; the server ends it after IDLE_MS/ABSOLUTE_MS anyway.
  setCookie(c, SESSION_COOKIE, id, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
  return { ok: true, principal };
}

/**
 * The session of this request, or why there is none. A session whose token was revoked or expired,
 * or that sat idle or lived too long, is deleted and its cookie cleared.
 */
export async function resolveSession(c: Context<ConsoleEnv>): Promise<ConsoleSession | NoSession> {
  const id = getCookie(c, SESSION_COOKIE);
  if (id === undefined) return 'none';
  if (!SESSION_ID.test(id)) {
    clearCookie(c);
    return 'ended';
  }
  const { db, clock, bootstrapAdminToken } = c.get('deps');
  const idHash = sha256Hex(id);
  const now = clock.now();
  const row = await db.first<SessionRow>(
    sql(
      `SELECT s.id_hash, s.token_id, s.token_hash, s.csrf, s.last_seen_at, s.idle_expires_at, s.expires_at,
              t.role, t.site_ids, t.relay_id, t.expires_at AS token_expires_at, t.revoked_at
         FROM console_sessions s LEFT JOIN tokens t ON t.id = s.token_id WHERE s.id_hash = ?`,
      idHash,
    ),
  );
  const principal = row ? livePrincipal(row, now, bootstrapAdminToken) : null;
  if (!row || !principal) {
    if (row) await db.batch([sql('DELETE FROM console_sessions WHERE id_hash = ?', idHash)]);
    clearCookie(c);
    return 'ended';
  }
  if (now - row.last_seen_at >= TOUCH_PRECISION_MS) {
    await db.batch([
      sql('UPDATE console_sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id_hash = ?', now, Math.min(now + IDLE_MS, row.expires_at), idHash),
    ]);
  }
  return { idHash, principal, csrf: row.csrf };
}

function livePrincipal(row: SessionRow, now: number, bootstrapAdminToken: string | undefined): Principal | null {
  if (row.idle_expires_at <= now || row.expires_at <= now) return null;
  if (row.token_id === 'bootstrap') {
    // The configured secret may have been changed or removed since: the session ends with it.
    if (!bootstrapAdminToken || !timingSafeEqual(sha256Hex(bootstrapAdminToken), row.token_hash)) return null;
    return BOOTSTRAP_PRINCIPAL;
  }
  if (row.role === null || row.revoked_at !== null || (row.token_expires_at !== null && row.token_expires_at <= now)) return null;
  return principalOf({ id: row.token_id, role: row.role, site_ids: row.site_ids, relay_id: row.relay_id });
}

/** Ends the session (sign-out): the row goes, so a copied cookie is worthless too. */
export function endSession(c: Context<ConsoleEnv>, session: ConsoleSession): SqlStatement {
  clearCookie(c);
  return sql('DELETE FROM console_sessions WHERE id_hash = ?', session.idHash);
}

function clearCookie(c: Context<ConsoleEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
}

/** The form's (or header's) CSRF token against the session's, in constant time. */
export function csrfMatches(session: ConsoleSession, given: unknown): boolean {
  return typeof given === 'string' && given.length === session.csrf.length && timingSafeEqual(given, session.csrf);
}

/**
 * Whether a state-changing request comes from a page of this console: browsers send Origin with
 * every POST (and Sec-Fetch-Site); a request with neither Origin nor Referer is refused. Hosts are
 * compared, not schemes, so that a TLS proxy in front of plain HTTP still matches.
 */
export function sameOrigin(c: Context): boolean {
  const host = new URL(c.req.url).host;
  const fetchSite = c.req.header('sec-fetch-site');
  if (fetchSite !== undefined && fetchSite !== 'same-origin') return false;
  const from = c.req.header('origin') ?? c.req.header('referer');
  if (from === undefined || from === 'null' || !URL.canParse(from)) return false;
  return new URL(from).host === host;
}
