import { intToIp, ipToInt } from './ipv4.ts';

/**
 * The address pool of full DHCP mode (RFC 2131 §4.3), in memory and without I/O: the clock is
 * injected and every change that must survive a restart is handed to `onChange` (the journal,
 * lease-journal.ts) *before* the caller sends the ACK that announces it.
 *
 * Allocation for a DISCOVER, in order (RFC 2131 §4.3.1):
 *   1. the client's current or last address, if nobody else holds it (a machine that reinstalls keeps
 *      its address, which is what the operator's notes and DNS say);
 *   2. the address it asks for (option 50), if free;
 *   3. a never-used address (a cursor walking the range: O(1));
 *   4. the free or expired address that has been unused longest (a scan of the pool).
 * Step 4 runs only when the range has been used up; when it finds nothing the pool is exhausted, and
 * until the earliest lease could expire (or an address is released or declined) further DISCOVERs
 * answer "exhausted" in O(1) — a full pool under a storm of DISCOVERs must not cost a scan each.
 *
 * An OFFER holds its address for `offerHoldMs` (two clients discovering at once get different ones);
 * a DECLINE (the client found the address in use, RFC 2131 §4.4.1) quarantines it for `declineHoldMs`.
 * There is no ping before offering (dnsmasq blocks up to 3 s per new address doing that): clients
 * probe with ARP themselves and DECLINE a conflict, which this table honours.
 */
export type LeaseState = 'offered' | 'bound' | 'free' | 'declined';

interface Entry {
  ip: number;
  /** The client, kept after release or expiry so it gets the same address back (affinity). */
  mac: string;
  state: LeaseState;
  /** Milliseconds since the epoch: end of the offer hold, lease or quarantine. */
  expiresAt: number;
}

/** What the journal records: enough to rebuild the table after a restart. */
export interface LeaseChange {
  ip: string;
  mac: string;
  state: 'bound' | 'free' | 'declined';
  expiresAt: number;
}

export interface Lease {
  ip: string;
  mac: string;
  expiresAt: number;
}

export type BindResult = { ok: true; lease: Lease } | { ok: false; reason: string };

export interface LeaseTableOptions {
  /** First and last address of the range (inclusive). */
  first: string;
  last: string;
  /** Addresses inside the range never handed out (the relay's own, a printer's). */
  exclude?: string[];
  offerHoldMs?: number;
  declineHoldMs?: number;
  now?: () => number;
  onChange?: (c: LeaseChange) => void;
}

export class LeaseTable {
  readonly first: number;
  readonly last: number;
  readonly #exclude: Set<number>;
  readonly #offerHoldMs: number;
  readonly #declineHoldMs: number;
  readonly #now: () => number;
  readonly #onChange: (c: LeaseChange) => void;
  readonly #byIp = new Map<number, Entry>();
  readonly #byMac = new Map<string, Entry>();
  /** Next never-used address to try (step 3). */
  #fresh: number;
  /** While the pool is exhausted: no address can free itself before this time (step 4 shortcut). */
  #exhaustedUntil = 0;

  constructor(o: LeaseTableOptions) {
    this.first = ipToInt(o.first);
    this.last = ipToInt(o.last);
    if (this.last < this.first) throw new Error(`the range ${o.first}–${o.last} is empty`);
    this.#exclude = new Set((o.exclude ?? []).map(ipToInt));
    this.#offerHoldMs = o.offerHoldMs ?? 30_000;
    this.#declineHoldMs = o.declineHoldMs ?? 10 * 60_000;
    this.#now = o.now ?? Date.now;
    this.#onChange = o.onChange ?? (() => {});
    this.#fresh = this.first;
  }

  /** Addresses the range can hand out. */
  get capacity(): number {
    let n = this.last - this.first + 1;
    for (const x of this.#exclude) if (x >= this.first && x <= this.last) n--;
    return n;
  }

  /** Addresses with an entry (held, bound, quarantined, or remembered for a past client). */
  get size(): number {
    return this.#byIp.size;
  }

  /** Whether `ip` belongs to the range and may be handed out at all. */
  owns(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.first && n <= this.last && !this.#exclude.has(n);
  }

  #available(e: Entry, now: number): boolean {
    return e.state === 'free' || e.expiresAt <= now;
  }

  /** The address to offer `mac`, held for the offer time; null when the pool is exhausted. */
  offer(mac: string, requested?: string): string | null {
    const now = this.#now();
    const mine = this.#byMac.get(mac);
    if (mine && mine.mac === mac && mine.state !== 'declined') {
      if (mine.state === 'bound' && mine.expiresAt > now) return intToIp(mine.ip);
      if (this.#available(mine, now) || mine.state === 'offered') return this.#hold(mine.ip, mac, now);
    }
    if (requested !== undefined && this.owns(requested)) {
      const r = ipToInt(requested);
      const e = this.#byIp.get(r);
      if (!e || this.#available(e, now)) return this.#hold(r, mac, now);
    }
    while (this.#fresh <= this.last) {
      const ip = this.#fresh++;
      if (!this.#exclude.has(ip) && !this.#byIp.has(ip)) return this.#hold(ip, mac, now);
    }
    if (now < this.#exhaustedUntil) return null;
    let best: Entry | null = null;
    let soonest = Infinity;
    for (const e of this.#byIp.values()) {
      if (this.#available(e, now)) {
        if (!best || e.expiresAt < best.expiresAt) best = e;
      } else if (e.expiresAt < soonest) soonest = e.expiresAt;
    }
    if (best) return this.#hold(best.ip, mac, now);
    this.#exhaustedUntil = soonest;
    return null;
  }

  #hold(ip: number, mac: string, now: number): string {
    this.#take(ip, mac, 'offered', now + this.#offerHoldMs);
    return intToIp(ip);
  }

  /** Gives `ip` to `mac`, detaching it from its previous owner and `mac` from its previous address. */
  #take(ip: number, mac: string, state: LeaseState, expiresAt: number): Entry {
    let e = this.#byIp.get(ip);
    if (e && e.mac !== mac && this.#byMac.get(e.mac) === e) this.#byMac.delete(e.mac);
    // One address per client: the one it had (held or bound) goes back to the pool.
    const previous = this.#byMac.get(mac);
    if (previous && previous !== e && (previous.state === 'offered' || previous.state === 'bound')) {
      const wasBound = previous.state === 'bound';
      previous.state = 'free';
      if (wasBound) this.#changed(previous);
    }
    if (!e) {
      e = { ip, mac, state, expiresAt };
      this.#byIp.set(ip, e);
    } else Object.assign(e, { mac, state, expiresAt });
    this.#byMac.set(mac, e);
    return e;
  }

  /**
   * A REQUEST for `ip` (selecting after our offer, init-reboot, renewing or rebinding): binds it to
   * `mac` for `leaseMs` when it is ours to give and nobody else holds it.
   */
  request(mac: string, ip: string, leaseMs: number): BindResult {
    if (!this.owns(ip)) return { ok: false, reason: `${ip} is not in this server's range` };
    const n = ipToInt(ip);
    const now = this.#now();
    const e = this.#byIp.get(n);
    if (e && !this.#available(e, now) && (e.mac !== mac || e.state === 'declined')) {
      return { ok: false, reason: e.state === 'declined' ? `${ip} was declined as in use` : `${ip} is leased to another client` };
    }
    const bound = this.#take(n, mac, 'bound', now + leaseMs);
    this.#changed(bound);
    return { ok: true, lease: { ip, mac, expiresAt: bound.expiresAt } };
  }

  /** DHCPRELEASE: the address is free again (and still remembered as this client's). */
  release(mac: string, ip: string): boolean {
    const e = this.#lookup(ip);
    if (!e || e.mac !== mac || e.state !== 'bound') return false;
    e.state = 'free';
    e.expiresAt = this.#now();
    this.#exhaustedUntil = 0;
    this.#changed(e);
    return true;
  }

  /** DHCPDECLINE: the client found `ip` in use; nobody gets it during the quarantine. */
  decline(mac: string, ip: string): boolean {
    const e = this.#lookup(ip);
    if (!e || e.mac !== mac || e.state === 'free') return false;
    this.#byMac.delete(mac);
    e.mac = '';
    e.state = 'declined';
    e.expiresAt = this.#now() + this.#declineHoldMs;
    this.#exhaustedUntil = Math.min(this.#exhaustedUntil, e.expiresAt);
    this.#changed(e);
    return true;
  }

  /** The client took another server's offer (RFC 2131 §4.3.2): our held address is free again. */
  cancelOffer(mac: string): void {
    const e = this.#byMac.get(mac);
    if (e && e.state === 'offered') {
      e.state = 'free';
      this.#exhaustedUntil = 0;
    }
  }

  /** The client currently holding `ip` (offered or bound, not expired), for TFTP's event MACs. */
  holder(ip: string): string | undefined {
    const e = this.#lookup(ip);
    return e && e.mac && !this.#available(e, this.#now()) ? e.mac : undefined;
  }

  /** The bound lease of `mac`, if any. */
  leaseOf(mac: string): Lease | undefined {
    const e = this.#byMac.get(mac);
    return e && e.state === 'bound' && e.expiresAt > this.#now() ? { ip: intToIp(e.ip), mac, expiresAt: e.expiresAt } : undefined;
  }

  /** Reapplies a journal line at start-up (no onChange). Lines for addresses now outside the range are skipped. */
  restore(c: LeaseChange): void {
    if (!this.owns(c.ip)) return;
    const n = ipToInt(c.ip);
    if (c.state !== 'declined') return void this.#take(n, c.mac, c.state, c.expiresAt);
    // A quarantined address has no owner: whoever held it no longer does.
    const held = this.#byIp.get(n);
    if (held && this.#byMac.get(held.mac) === held) this.#byMac.delete(held.mac);
    this.#byIp.set(n, { ip: n, mac: '', state: 'declined', expiresAt: c.expiresAt });
  }

  /** What the journal needs to rebuild the table: every address with an owner or a quarantine. */
  *entries(): Iterable<LeaseChange> {
    for (const e of this.#byIp.values()) {
      if (e.state === 'offered') {
        if (e.mac) yield { ip: intToIp(e.ip), mac: e.mac, state: 'free', expiresAt: e.expiresAt };
      } else yield { ip: intToIp(e.ip), mac: e.mac, state: e.state, expiresAt: e.expiresAt };
    }
  }

  counts(): { bound: number; offered: number; declined: number; capacity: number } {
    const now = this.#now();
    let bound = 0;
    let offered = 0;
    let declined = 0;
    for (const e of this.#byIp.values()) {
      if (this.#available(e, now)) continue;
      if (e.state === 'bound') bound++;
      else if (e.state === 'offered') offered++;
      else if (e.state === 'declined') declined++;
    }
    return { bound, offered, declined, capacity: this.capacity };
  }

  #lookup(ip: string): Entry | undefined {
    return this.#byIp.get(ipToInt(ip));
  }

  #changed(e: Entry): void {
    this.#onChange({ ip: intToIp(e.ip), mac: e.mac, state: e.state === 'offered' ? 'free' : e.state, expiresAt: e.expiresAt });
  }
}
