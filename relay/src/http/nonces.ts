import { randomBytes } from 'node:crypto';
import { normalizeMac } from '../../../shared/mac.ts';

/**
 * One-time nonces that tie a boot-script URL to the client that PXE-booted (issue C: a machine's
 * script carries its callback token, so it goes only to the client that booted as that machine,
 * never to anyone who merely knows a MAC).
 *
 * The DHCP layer calls `issue(mac, ip)` when it hands iPXE the script URL and puts the nonce in it;
 * `/boot` accepts the nonce only for that MAC, from that IP address, within `ttlMs`, and `consume`s
 * it once a script was served (a retry after a failed fetch still works). 128 random bits; the
 * registry is bounded (oldest evicted first) so a DHCP flood cannot grow it without limit.
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

export class NonceRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 120_000;
    this.#max = opts.max ?? 16_384;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  issue(mac: string, ip: string | null): string {
    const m = normalizeMac(mac);
    if (m === null) throw new Error(`not a MAC address: ${mac}`);
    while (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    const nonce = randomBytes(16).toString('base64url');
    this.#entries.set(nonce, { mac: m, ip: ip === null ? null : normalizeIp(ip), expiresAt: this.#now() + this.#ttlMs });
    return nonce;
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
