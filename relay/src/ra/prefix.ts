/**
 * What a LAN's router advertisement may carry as its prefix (pure; no node:*):
 *
 *   null    no prefix at all: an RA that configures nothing, which is all iPXE needs to stop waiting
 *   'ula'   a unique local /64 (RFC 4193) the relay generates once and keeps in its state directory
 *   '…/64'  a /64 the operator chose
 *
 * Only /64s: SLAAC forms an address from a 64-bit interface identifier (RFC 4862 §5.5.3 d, RFC 4291
 * §2.5.1), so a Prefix Information option with any other length configures no address on any host.
 */
export type RaPrefix = null | 'ula' | `${string}/64`;

export class RaConfigError extends Error {
  override name = 'RaConfigError';
}

/**
 * Reads a configured prefix: null, 'none' (the config file's spelling of null), 'ula', or an IPv6
 * /64 with its host bits zero. Throws RaConfigError with the reason otherwise. A given /64 comes back
 * in canonical form (`FD42:0001:…::/64` → `fd42:1:…::/64`).
 */
export function parseRaPrefix(value: string | null | undefined, where = 'ra_prefix'): RaPrefix {
  if (value === null || value === undefined || value === 'none') return null;
  if (value === 'ula') return 'ula';
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(value);
  if (!m) throw new RaConfigError(`${where} ${JSON.stringify(value)}: write "none", "ula" or an IPv6 /64 such as "fd12:3456:789a:1::/64"`);
  const bytes = parseIpv6(m[1]!);
  if (!bytes) throw new RaConfigError(`${where} ${JSON.stringify(value)}: ${m[1]} is not an IPv6 address`);
  if (m[2] !== '64') throw new RaConfigError(`${where} ${JSON.stringify(value)}: the prefix must be a /64 (SLAAC forms addresses only in /64s, RFC 4862 §5.5.3)`);
  if (bytes.slice(8).some((b) => b !== 0)) {
    throw new RaConfigError(`${where} ${JSON.stringify(value)}: host bits are set; the /64 is ${formatIpv6([...bytes.slice(0, 8), 0, 0, 0, 0, 0, 0, 0, 0])}/64`);
  }
  if (bytes[0] === 0xff) throw new RaConfigError(`${where} ${JSON.stringify(value)}: a multicast prefix (ff00::/8) cannot be advertised`);
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) throw new RaConfigError(`${where} ${JSON.stringify(value)}: link-local (fe80::/10) is every host's own; advertise a ULA (fd00::/8) instead`);
  if (bytes.slice(0, 8).every((b) => b === 0)) throw new RaConfigError(`${where} ${JSON.stringify(value)}: not a unicast prefix`);
  return `${formatIpv6(bytes)}/64`;
}

/** True for fc00::/7 (RFC 4193 unique local addresses). */
export function isUniqueLocal(prefix: string): boolean {
  const bytes = parseIpv6(prefix.replace(/\/\d+$/, ''));
  return !!bytes && (bytes[0]! & 0xfe) === 0xfc;
}

/**
 * A ULA /48 from 40 random bits (RFC 4193 §3.2: `fd` + Global ID; §3.2.2's SHA-1 recipe is only one
 * way to get random bits, and crypto-quality random bits are what it asks for).
 * Returns `fdXX:XXXX:XXXX` (three groups; the /64s under it add a 16-bit subnet ID).
 */
export function ulaGlobalId(random5: Uint8Array): string {
  if (random5.length !== 5) throw new Error('a ULA Global ID is 40 bits (5 bytes)');
  const b = [0xfd, ...random5];
  return [0, 2, 4].map((i) => ((b[i]! << 8) | b[i + 1]!).toString(16)).join(':');
}

/** The /64 with subnet ID `subnet` (0–65535) under a ULA Global ID from ulaGlobalId(). */
export function ulaSubnet(globalId: string, subnet: number): `${string}/64` {
  if (!/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(globalId)) throw new Error(`not a ULA Global ID: ${JSON.stringify(globalId)}`);
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 0xffff) throw new Error(`ULA subnet ID ${subnet} is not 0–65535`);
  return parseRaPrefix(`${globalId}:${subnet.toString(16)}::/64`) as `${string}/64`;
}

/** 16 bytes, or null when `s` is not an IPv6 address (dotted-quad tails included). */
export function parseIpv6(s: string): number[] | null {
  let text = s;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const q = v4.slice(1).map(Number);
    if (q.some((n) => n > 255)) return null;
    text = `${text.slice(0, v4.index)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return null;
  return all.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(bytes: number[]): string {
  const g = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((n) => n.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
