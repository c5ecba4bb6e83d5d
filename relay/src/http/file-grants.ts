import { createHmac, timingSafeEqual } from 'node:crypto';
import { normalizeIp } from './nonces.ts';

/**
 * Capabilities for the image cache. The cloud's signed URLs in a script expire (an hour), but a
 * machine that got its script from this relay during a WAN cut must still get its images. So the
 * relay rewrites each `/v1/files/<imageId>?sig=…` in a script it serves into
 *
 *     /files/<imageId>/<expirySeconds>.<mac hex>.<hmac>
 *
 * an HMAC-SHA256 (key kept in the state dir, 0600) over the image, the client's IP address, the MAC
 * and the expiry. Only the client the script was served to (after its nonce check) can use it, the
 * cloud's signature expiry no longer matters to the cache, and it survives a relay restart.
 */
export const GRANT_TTL_MS = 24 * 3600 * 1000;

const GRANT = /^(\d{1,12})\.([0-9a-f]{12})\.([A-Za-z0-9_-]{22})$/;

export class FileGrants {
  readonly #key: Buffer;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(key: Buffer, opts: { ttlMs?: number; now?: () => number } = {}) {
    if (key.length < 32) throw new Error('a file grant key needs at least 32 bytes');
    this.#key = key;
    this.#ttlMs = opts.ttlMs ?? GRANT_TTL_MS;
    this.#now = opts.now ?? Date.now;
  }

  #mac(imageId: string, ip: string, mac: string, exp: string): Buffer {
    return createHmac('sha256', this.#key).update(`edgeboot-grant-v1\n${imageId}\n${normalizeIp(ip)}\n${mac}\n${exp}`).digest().subarray(0, 16);
  }

  mint(imageId: string, ip: string, mac: string): string {
    const exp = String(Math.floor((this.#now() + this.#ttlMs) / 1000));
    const hex = mac.replaceAll(':', '');
    return `${exp}.${hex}.${this.#mac(imageId, ip, hex, exp).toString('base64url')}`;
  }

  /** The MAC (colon form) the grant was minted for, or null if it is not valid for this client now. */
  verify(imageId: string, ip: string, grant: string): string | null {
    const m = GRANT.exec(grant);
    if (!m) return null;
    const [, exp, hex, sig] = m as unknown as [string, string, string, string];
    if (Number(exp) * 1000 <= this.#now()) return null;
    // Compared as text: base64url decoding ignores the low bits of the last character, so two
    // spellings would decode to the same bytes.
    const want = Buffer.from(this.#mac(imageId, ip, hex, exp).toString('base64url'));
    const got = Buffer.from(sig);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
    return hex.match(/../g)!.join(':');
  }
}
