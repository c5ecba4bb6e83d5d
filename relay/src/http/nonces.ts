import { randomFillSync } from 'node:crypto';
import { isCanonicalMac, normalizeMac } from '../../../shared/mac.ts';

/**
 * One-time nonces that tie a boot-script URL to the client that PXE-booted (issue C: a machine's
 * script carries its callback token, so it goes only to the client that booted as that machine,
 * never to anyone who merely knows a MAC).
 *
 * The DHCP layer calls `issue(mac, ip)` when it hands iPXE the script URL and puts the nonce in it;
 * `/boot` accepts the nonce only for that MAC, from that IP address, within `ttlMs`, and `consume`s
 * it once a script was served (a retry after a failed fetch still works). 128 random bits; the
 * registry is bounded (oldest evicted first) so a DHCP flood cannot grow it without limit, and
 * expired nonces leave it as new ones come (every nonce lives `ttlMs`, so the oldest expire first:
 * the Map's insertion order is its expiry order), so a storm's nonces are gone a TTL after it.
 *
 * Cost per issue (a DHCP hot-path call, one per iPXE DISCOVER): the random bits come from a 4 KiB
 * pool refilled by one getrandom per 256 nonces, not a syscall each.
 *
 * `ip` may be null when the DHCP layer cannot know the client's address yet (a proxy offer sent
 * before the client has one): the nonce is then bound to the first address that presents it.
 */
export type NonceCheck = 'ok' | 'missing' | 'unknown' | 'expired' | 'wrong-mac' | 'wrong-address';

interface Entry {
  mac: string;
  ip: string | null;
  expiresAt: number;
}

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

const POOL_BYTES = 4096;
const NONCE_BYTES = 16;

export class NonceRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #pool = Buffer.alloc(POOL_BYTES);
  #poolAt = POOL_BYTES;

  constructor(opts: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 120_000;
    this.#max = opts.max ?? 16_384;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  issue(mac: string, ip: string | null): string {
    // The DHCP layer passes canonical MACs (classify.ts): the regexes of normalizeMac only for others.
    const m = isCanonicalMac(mac) ? mac : normalizeMac(mac);
    if (m === null) throw new Error(`not a MAC address: ${mac}`);
    const now = this.#now();
    this.#expire(now);
    while (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    if (this.#poolAt + NONCE_BYTES > POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#poolAt = 0;
    }
    const nonce = this.#pool.toString('base64url', this.#poolAt, (this.#poolAt += NONCE_BYTES));
    this.#entries.set(nonce, { mac: m, ip: ip === null ? null : normalizeIp(ip), expiresAt: now + this.#ttlMs });
    return nonce;
  }

  /** Drops expired nonces from the oldest end; stops at the first live one (amortised O(1) per issue). */
  #expire(now: number): void {
    for (const [nonce, e] of this.#entries) {
      if (e.expiresAt > now) return;
      this.#entries.delete(nonce);
    }
  }

  check(nonce: string | null | undefined, mac: string, ip: string): NonceCheck {
    if (!nonce) return 'missing';
    const e = this.#entries.get(nonce);
    if (!e) return 'unknown';
    if (e.expiresAt <= this.#now()) {
      this.#entries.delete(nonce);
      return 'expired';
    }
    if (e.mac !== normalizeMac(mac)) return 'wrong-mac';
    const addr = normalizeIp(ip);
    if (e.ip === null) e.ip = addr;
    return e.ip === addr ? 'ok' : 'wrong-address';
  }

  consume(nonce: string): void {
    this.#entries.delete(nonce);
  }
}
