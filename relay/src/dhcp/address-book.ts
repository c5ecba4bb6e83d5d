/**
 * Which MAC was last seen holding which IPv4 address, as DHCP learns it (a REQUEST naming its
 * address, a 4011 REQUEST's ciaddr, a full-mode lease). TFTP and HTTP see only addresses; their boot
 * events need the MAC. Bounded (oldest first), so a flood of fake clients cannot grow it, and an
 * entry expires `ttlMs` after it was last learnt (a boot's TFTP and HTTP follow its DHCP within
 * minutes): a storm's entries leave as later ones come, and are not answered once expired.
 */
export class AddressBook {
  readonly #byIp = new Map<string, { mac: string; at: number }>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Full mode installs the lease table here: the authoritative answer when there is one. */
  lookup: ((ip: string) => string | undefined) | null = null;

  constructor(max = 8_192, opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#max = max;
    this.#ttlMs = opts.ttlMs ?? 30 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Entries held now, expired ones not yet dropped included (tests, metrics). */
  get size(): number {
    return this.#byIp.size;
  }

  set(ip: string, mac: string): void {
    const now = this.#now();
    this.#expire(now);
    // Re-inserted, so the Map's order stays the order of the times learnt (what #expire relies on).
    this.#byIp.delete(ip);
    if (this.#byIp.size >= this.#max) this.#byIp.delete(this.#byIp.keys().next().value!);
    this.#byIp.set(ip, { mac, at: now });
  }

  macFor(ip: string): string | undefined {
    const held = this.lookup?.(ip);
    if (held !== undefined) return held;
    const e = this.#byIp.get(ip);
    if (!e) return undefined;
    if (this.#now() - e.at >= this.#ttlMs) {
      this.#byIp.delete(ip);
      return undefined;
    }
    return e.mac;
  }

  /** Oldest first: stops at the first entry still inside its TTL (amortised O(1) per set). */
  #expire(now: number): void {
    for (const [ip, e] of this.#byIp) {
      if (now - e.at < this.#ttlMs) return;
      this.#byIp.delete(ip);
    }
  }
}
