/**
 * Which MAC was last seen holding which IPv4 address, as DHCP learns it (a REQUEST naming its
 * address, a 4011 REQUEST's ciaddr, a full-mode lease). TFTP and HTTP see only addresses; their boot
 * events need the MAC. Bounded (oldest first), so a flood of fake clients cannot grow it.
 */
export class AddressBook {
  readonly #byIp = new Map<string, string>();
  readonly #max: number;
  /** Full mode installs the lease table here: the authoritative answer when there is one. */
  lookup: ((ip: string) => string | undefined) | null = null;

  constructor(max = 8_192) {
    this.#max = max;
  }

  set(ip: string, mac: string): void {
    this.#byIp.delete(ip);
    if (this.#byIp.size >= this.#max) this.#byIp.delete(this.#byIp.keys().next().value!);
    this.#byIp.set(ip, mac);
  }

  macFor(ip: string): string | undefined {
    return this.lookup?.(ip) ?? this.#byIp.get(ip);
  }
}
