import { base64url, fromBase64url } from '../../../shared/crypto/base64url.ts';
import { randomBase32 } from '../../../shared/ids.ts';
import type { SigningKey } from '../../../shared/crypto/signed-url.ts';
import { sql, type SqlDatabase, type SqlStatement } from '../ports/sql-database.ts';

interface KeyRow {
  kid: string;
  secret: string;
  created_at: number;
  retired_at: number | null;
}

export interface SigningKeySet {
  /** The key new URLs are signed with. */
  active: SigningKey;
  /** Every key that still verifies (the active one included). */
  all: SigningKey[];
}

function toKey(r: KeyRow): SigningKey {
  return { kid: r.kid, secret: fromBase64url(r.secret) };
}

function newSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * The URL signing keys, kept in the database so that every runtime (and every Workers isolate) signs
 * and verifies with the same ones without extra configuration. A deployment's first signed URL
 * creates the first key; `rotateSigningKey` retires the active one without invalidating URLs that
 * were already handed out (they stay verifiable until their key is deleted).
 */
export async function signingKeys(db: SqlDatabase, now: number): Promise<SigningKeySet> {
  let rows = await db.all<KeyRow>(signingKeysStatement());
  if (!rows.some((r) => r.retired_at === null)) {
    // Two first requests may race and both insert a key: harmless, the newest signs and both verify.
    await db.batch([sql('INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)', `k${randomBase32(6)}`, newSecret(), now)]);
    rows = await db.all<KeyRow>(signingKeysStatement());
  }
  const active = rows.find((r) => r.retired_at === null)!;
  return { active: toKey(active), all: rows.map(toKey) };
}

/** Every key, newest first: for a caller that sends it in a batch of its own (boot/boot-inputs.ts). */
export function signingKeysStatement(): SqlStatement {
  return sql('SELECT * FROM signing_keys ORDER BY created_at DESC, kid DESC');
}

/**
 * The key to sign with, remembered for a minute per database: every boot script signs its image
 * URLs, and the keys change only on rotation. Verification does not use this (routes/files.ts reads
 * every key each time), so a key deleted by hand stops verifying at once; a rotation through the API
 * clears it here too. Keyed by the database object, so each app instance has its own.
 */
const ACTIVE_KEY_TTL_MS = 60_000;
const activeKeys = new WeakMap<SqlDatabase, { at: number; key: SigningKey }>();

export async function activeSigningKey(db: SqlDatabase, now: number): Promise<SigningKey> {
  const hit = rememberedSigningKey(db, now);
  if (hit) return hit;
  const { active } = await signingKeys(db, now);
  activeKeys.set(db, { at: now, key: active });
  return active;
}

/** The remembered key to sign with, or null when it has to be read (again). */
export function rememberedSigningKey(db: SqlDatabase, now: number): SigningKey | null {
  const hit = activeKeys.get(db);
  return hit && now >= hit.at && now - hit.at < ACTIVE_KEY_TTL_MS ? hit.key : null;
}

/**
 * The key to sign with from the rows of `signingKeysStatement()`, remembered like `activeSigningKey`
 * does; null when there is no active key yet (`activeSigningKey` makes the first one).
 */
export function rememberSigningKey(db: SqlDatabase, now: number, rows: readonly unknown[]): SigningKey | null {
  const active = (rows as readonly KeyRow[]).find((r) => r.retired_at === null);
  if (!active) return null;
  const key = toKey(active);
  activeKeys.set(db, { at: now, key });
  return key;
}

/**
 * Starts signing with a new key; the old ones keep verifying. Returns the new key id. `also` gives
 * statements for the same transaction, given the new key id (the route's audit row).
 */
export async function rotateSigningKey(db: SqlDatabase, now: number, also: (kid: string) => readonly SqlStatement[] = () => []): Promise<string> {
  const kid = `k${randomBase32(6)}`;
  await db.batch([
    sql('UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL', now),
    sql('INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)', kid, newSecret(), now),
    ...also(kid),
  ]);
  activeKeys.delete(db);
  return kid;
}
