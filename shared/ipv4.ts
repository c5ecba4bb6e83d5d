/** IPv4 addresses as unsigned 32-bit integers, for pools and subnet checks (pure). */

const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return DOTTED.test(s);
}

export function ipToInt(ip: string): number {
  if (!DOTTED.test(ip)) throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export interface Subnet {
  /** Network address (host bits zero). */
  network: number;
  /** Prefix length 0–32. */
  prefix: number;
  mask: number;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.0.0.0/24` (host bits must be zero) → Subnet; throws with the reason otherwise. */
export function parseCidr(cidr: string): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) throw new Error(`not an IPv4 CIDR block: ${JSON.stringify(cidr)}`);
  const prefix = Number(m[2]);
  const mask = maskOf(prefix);
  const network = ipToInt(m[1]!);
  if ((network & ~mask) >>> 0 !== 0) throw new Error(`${cidr} has host bits set; the network is ${intToIp((network & mask) >>> 0)}/${prefix}`);
  return { network, prefix, mask };
}

/** The subnet an interface address with a dotted netmask belongs to. */
export function subnetOf(ip: string, netmask: string): Subnet {
  const mask = ipToInt(netmask);
  // A contiguous mask's complement is 2^(32 - prefix) - 1.
  const prefix = 32 - Math.log2(((~mask) >>> 0) + 1);
  if (!Number.isInteger(prefix)) throw new Error(`netmask ${netmask} is not contiguous`);
  return { network: (ipToInt(ip) & mask) >>> 0, prefix, mask };
}

/** `10.0.0.0/24`: the written form of a subnet. */
export function cidrOf(s: Subnet): string {
  return `${intToIp(s.network)}/${s.prefix}`;
}

export function inSubnet(ip: number, s: Subnet): boolean {
  return ((ip & s.mask) >>> 0) === s.network;
}
