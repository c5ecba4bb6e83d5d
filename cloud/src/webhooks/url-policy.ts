/**
 * Where the control plane may POST: no SSRF into the networks it runs in. Pure and Web-standard
 * (the Workers entry uses it too). Checked when a webhook is saved, and again at every delivery
 * against the addresses the name resolves to (where the runtime lets us resolve: Node and Deno).
 *
 * Host spellings are left to the WHATWG URL parser, which every runtime here implements: it turns
 * `2130706433`, `0x7f.1`, `0177.0.0.1` and full-width digits into `127.0.0.1`, Unicode names into
 * punycode, and IPv6 into its compressed form, so one check on `url.hostname` sees every spelling.
 */

export interface WebhookUrlPolicy {
  /** Plain http:// receivers (EDGEBOOT_WEBHOOK_ALLOW_HTTP=1). */
  allowHttp: boolean;
  /** Networks allowed although not global (EDGEBOOT_WEBHOOK_ALLOW_NETS, e.g. `10.20.0.0/16,::1/128`). */
  allowNets: readonly Cidr[];
}

export const STRICT_POLICY: WebhookUrlPolicy = { allowHttp: false, allowNets: [] };

export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

/**
 * Not globally reachable (IANA special-purpose registries, RFC 6890 and updates): where a request
 * from the control plane could land on something of its own network.
 */
const BLOCKED_V4 = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // carrier-grade NAT, RFC 6598
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, and cloud metadata services (169.254.169.254)
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // 6to4 relay anycast (deprecated)
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and 255.255.255.255
].map(parseCidr);

const BLOCKED_V6 = [
  '::/96', // unspecified, loopback, IPv4-compatible (deprecated)
  '100::/64', // discard
  '2001::/23', // IETF protocol assignments (Teredo, ORCHID…)
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4: reaches the embedded IPv4 address
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated)
  'ff00::/8', // multicast
].map(parseCidr);

/** IPv6 forms that carry an IPv4 address the packet ends up at: judged by that address. */
const V4_IN_V6 = ['::ffff:0:0/96', '64:ff9b::/96'].map(parseCidr);

/** Names that are local by definition (RFC 6761, 6762, 8375) or that only a local resolver answers. */
const LOCAL_NAME = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa|localdomain)\.?$/i;

export function parseIPv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? Uint8Array.from(b) : null;
}

/** RFC 4291 text form, with an optional trailing dotted IPv4; no zone id. */
export function parseIPv6(input: string): Uint8Array | null {
  let s = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail: number[] = [];
  if (s.includes('.')) {
    const lastColon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = halves.length === 2 ? [...head, ...new Array(8 - head.length - rest.length - tail.length).fill(0), ...rest, ...tail] : [...head, ...tail];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0)) return null;
  if (halves.length === 2 && head.length + rest.length + tail.length > 7) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

export function parseCidr(text: string): Cidr {
  const [addr, bits] = text.trim().split('/');
  const bytes = parseIPv4(addr ?? '') ?? parseIPv6(addr ?? '');
  const max = bytes?.length === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!bytes || !(prefix >= 0 && prefix <= max)) throw new Error(`not an address or network: ${JSON.stringify(text)} (expected e.g. 10.20.0.0/16 or fd00::/8)`);
  return { bytes, prefix, text: text.trim() };
}

function inCidr(addr: Uint8Array, c: Cidr): boolean {
  if (addr.length !== c.bytes.length) return false;
  for (let bit = 0; bit < c.prefix; bit += 8) {
    const n = Math.min(8, c.prefix - bit);
    const mask = (0xff << (8 - n)) & 0xff;
    if ((addr[bit / 8]! & mask) !== (c.bytes[bit / 8]! & mask)) return false;
  }
  return true;
}

/** Why the control plane may not connect to this address, or null when it may. */
export function addressRefusal(address: string, policy: WebhookUrlPolicy): string | null {
  const bytes = parseIPv4(address) ?? parseIPv6(address);
  if (!bytes) return `${address} is not an IP address`;
  if (policy.allowNets.some((c) => inCidr(bytes, c))) return null;
  if (bytes.length === 16) {
    if (V4_IN_V6.some((c) => inCidr(bytes, c))) {
      const v4 = bytes.slice(12);
      if (policy.allowNets.some((c) => inCidr(v4, c))) return null;
      if (BLOCKED_V4.some((c) => inCidr(v4, c))) return `${address} is a private, loopback or link-local address`;
      return null;
    }
    return BLOCKED_V6.some((c) => inCidr(bytes, c)) ? `${address} is a private, loopback or link-local address` : null;
  }
  return BLOCKED_V4.some((c) => inCidr(bytes, c)) ? `${address} is a private, loopback or link-local address` : null;
}

export interface UrlVerdict {
  url: URL;
  /** Set when the host is an address (the transport need not resolve it). */
  address: string | null;
}

/**
 * Why `text` may not be a receiver's URL under `policy`, or the parsed URL. The message names what
 * to change (an operator setting, for a receiver on the operator's own network).
 */
export function checkWebhookUrl(text: string, policy: WebhookUrlPolicy): { ok: true; verdict: UrlVerdict } | { ok: false; reason: string } {
  if (!URL.canParse(text)) return { ok: false, reason: 'not a URL' };
  const url = new URL(text);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return { ok: false, reason: url.protocol === 'http:' ? 'must be https:// (plain http needs EDGEBOOT_WEBHOOK_ALLOW_HTTP=1 on the control plane)' : 'must be an https:// URL' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'no user:password@ in the URL' };
  const host = url.hostname;
  const literal = host.startsWith('[') ? host.slice(1, -1) : parseIPv4(host) ? host : null;
  if (literal !== null) {
    const why = addressRefusal(literal, policy);
    return why ? { ok: false, reason: `${why}: refused unless the operator allows its network (EDGEBOOT_WEBHOOK_ALLOW_NETS)` } : { ok: true, verdict: { url, address: literal } };
  }
  // A name: checked for what it is here, and for what it resolves to at each delivery.
  if (!host.includes('.') || LOCAL_NAME.test(host)) return { ok: false, reason: `${host} is a local name: use a public name (or an address the operator allows)` };
  if (/^[0-9.]+$/.test(host) || /^0x/i.test(host)) return { ok: false, reason: `${host} is not a valid host` };
  return { ok: true, verdict: { url, address: null } };
}

/** Parses EDGEBOOT_WEBHOOK_ALLOW_NETS-style text: comma- or space-separated networks. */
export function parseAllowNets(text: string | undefined): Cidr[] {
  if (!text) return [];
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(parseCidr);
}
