/** IPv4 addresses as unsigned 32-bit integers, for pools and subnet checks (pure). */

/**
 * A dotted quad (four decimal parts 0–255, no leading zeros) as an unsigned integer, or -1. Read by
 * hand: the relay converts addresses per DHCP packet, and a regex plus split and four Number() calls
 * allocated an array and four strings each time (issue 18).
 */
function parseDotted(s: string): number {
  if (s.length < 7 || s.length > 15) return -1;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      if (c < 48 || c > 57 || (digits > 0 && part === 0)) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    }
  }
  return dots === 3 && digits > 0 ? n * 256 + part : -1;
}

export function isIpv4(s: string): boolean {
  return parseDotted(s) >= 0;
}

export function ipToInt(ip: string): number {
  const n = parseDotted(ip);
  if (n < 0) throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return n;
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
