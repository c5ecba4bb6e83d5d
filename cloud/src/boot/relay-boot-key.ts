import { verifyToken, type SigningKey } from '../../../shared/crypto/signed-url.ts';
import { base64url, fromBase64url } from '../../../shared/crypto/base64url.ts';
import { randomBase32 } from '../../../shared/ids.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';

/**
 * Direct mode: iPXE builds that speak HTTPS fetch their script from the cloud themselves, with a URL
 * the relay signed (shared/crypto/signed-url.ts) using the key it got once, at enrollment:
 *
 *     GET /v1/boot/<mac>?sig=<token>[&arch=<option 93>&uuid=&serial=]
 *
 * signed over { method: 'GET', path: '/v1/boot/<mac>', site: <relay's site>, expiry ≤ now + 1 h },
 * kid = the relay's bootKeyId. `<mac>` is lower-case hyphenated (`52-54-00-12-34-56`, what iPXE's
 * `${net0/mac:hexhyp}` gives): signed paths allow no colons. The query is not signed; it only
 * carries facts that the relay-proxied mode also takes on trust from the relay's LAN.
 */

/** The URL rides in a DHCP answer and is fetched seconds later; an hour is generous. */
export const BOOT_TOKEN_MAX_TTL_SECONDS = 3600;

export interface RelayBootKey {
  /** Goes in the token as its key id: 1–16 of [a-z0-9-]. */
  kid: string;
  /** base64url of 32 random bytes: what relays.boot_key stores and the relay signs with. */
  secret: string;
}

export function newRelayBootKey(): RelayBootKey {
  return { kid: `b${randomBase32(12)}`, secret: base64url(crypto.getRandomValues(new Uint8Array(32))) };
}

function decodeKey(kid: string, secret: string): SigningKey {
  return { kid, secret: fromBase64url(secret) };
}

/**
 * The relay that signed `token` for this request path, or an error: malformed → 400, anything else
 * (unknown or revoked relay key, other path or site, expired, forged) → 403.
 */
export async function verifyBootToken(db: SqlDatabase, token: string, path: string, nowMs: number): Promise<{ relayId: string; siteId: string }> {
  const kid = token.split('.')[1] ?? '';
  const relay = /^[a-z0-9-]{1,16}$/.test(kid)
    ? await db.first<{ id: string; site_id: string; boot_key: string | null; revoked_at: number | null }>(
        sql('SELECT id, site_id, boot_key, revoked_at FROM relays WHERE boot_key_id = ?', kid),
      )
    : null;
  const keys = relay && relay.boot_key && relay.revoked_at === null ? [decodeKey(kid, relay.boot_key)] : [];
  const v = await verifyToken(keys, token, { method: 'GET', path }, Math.floor(nowMs / 1000), BOOT_TOKEN_MAX_TTL_SECONDS);
  if (!v.ok) {
    if (v.status === 400) throw new AppError('validation_failed', `sig: ${v.reason}`, { issues: [{ path: 'sig', message: v.reason }] });
    throw new AppError('forbidden', 'the boot URL signature is not valid here');
  }
  if (!relay || v.site !== relay.site_id) throw new AppError('forbidden', 'the boot URL signature is not valid here');
  return { relayId: relay.id, siteId: relay.site_id };
}
