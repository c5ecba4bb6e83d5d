import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { inSubnet, intToIp, ipToInt, isIpv4, parseCidr } from './dhcp/ipv4.ts';
import { parseRaPrefix } from './ra/prefix.ts';

/*
 * relay.toml, validated once at start. Every key has a default except where a wrong guess would
 * be harmful; a flag overrides the file (see FLAGS). Unknown keys are errors (a typo must not pass
 * silently as a default). Example:
 *
 *   state_dir = "/var/lib/edgeboot-relay"
 *   interface = "eth0"            # the one LAN interface served (see README: binds 0.0.0.0:67)
 *   mode = "proxy"                # proxy | dhcp
 *   chaining = "via-relay"        # via-relay | direct
 *   boot_files = "/usr/lib/ipxe"  # iPXE binaries served over TFTP; default: the bundled folder
 *                                 # (DEFAULT_BOOT_FILES_DIR, Debian trixie's iPXE 1.21.1+git20250501)
 *
 *   [http]
 *   listen = "0.0.0.0"
 *   port = 8080
 *   public_url = "http://192.0.2.10:8080"   # how iPXE on the LAN reaches this relay
 *
 *   [cache]
 *   max_bytes = "20GiB"
 */

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/;
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

export const Size = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(SIZE, 'a size such as 512MiB or 20GiB (units B, KiB, MiB, GiB, TiB)')
    .transform((s) => {
      const m = SIZE.exec(s)!;
      return Math.floor(Number(m[1]) * UNITS[m[2] ?? 'B']!);
    }),
]);
/**
 * The relay's own iPXE binaries (relay/build/boot-files.ts): `boot/` beside the bundle
 * (relay/dist/edgeboot-relay.mjs → relay/dist/boot), or relay/dist/boot when run from the sources.
 * Written by `npm run build:relay` (or `npm run build:boot-files`); main.ts says so when it is missing.
 */
export const DEFAULT_BOOT_FILES_DIR = import.meta.filename.endsWith('.ts') ? resolve(import.meta.dirname, '../dist/boot') : join(dirname(import.meta.filename), 'boot');
/** What to run when DEFAULT_BOOT_FILES_DIR is missing. */
export const BUILD_BOOT_FILES = 'npm run build:boot-files (or npm run build:relay), or set boot_files = "/usr/lib/ipxe"';

const Port = z.coerce.number().int().min(1).max(65535);
const Dir = z.string().min(1);
const BaseUrl = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$/, 'http(s)://host[:port], no path: iPXE pastes it into URLs');

const Ip = z.string().refine(isIpv4, 'an IPv4 address');
const Cidr = z.string().refine((s) => {
  try {
    parseCidr(s);
    return true;
  } catch {
    return false;
  }
}, 'an IPv4 network such as 10.20.0.0/24 (host bits zero)');
/** A boot file name under boot_files: what DHCP hands out and TFTP serves (tftp/content.ts rules: no `..`, no leading `/`). */
const BootFileName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,60}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,60}){0,3}$/, 'a file name under boot_files (letters, digits, . _ - and / between names; no ..)')
  .refine((s) => !s.split('/').includes('..'), 'no .. in a boot file name');
const IfName = z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'a network interface name (at most 15 characters)');
const Domain = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'a DNS domain name');

/**
 * What one served LAN needs, in `[[lan]]` or (for the one-LAN form) at the top level and in `[dhcp]`:
 * its mode, and in full mode the pool and the options handed out. Full-mode keys are refused in proxy
 * mode rather than ignored: a `range` under `mode = "proxy"` is a mistake someone must hear about.
 */
const PoolKeys = {
  /** The relay's own address there (option 54, siaddr). Default: the interface's IPv4 address. */
  address: Ip.optional(),
  subnet: Cidr.optional(),
  range: z.tuple([Ip, Ip]).optional(),
  routers: z.array(Ip).max(8).default([]),
  dns: z.array(Ip).max(8).default([]),
  domain: Domain.optional(),
  lease_seconds: z.coerce.number().int().min(60).max(30 * 86_400).default(3600),
  exclude: z.array(Ip).max(1024).default([]),
};

/**
 * `[[lan]]`: one segment the relay serves. Either a local `interface` (an 802.1Q VLAN interface such as
 * `eth0.20` is one like any other) or `relayed`: a segment behind a DHCP relay agent (`ip helper-address`)
 * whose requests arrive with giaddr inside this network.
 */
export const LanConfig = z.strictObject({
  interface: IfName.optional(),
  relayed: Cidr.optional(),
  mode: z.enum(['proxy', 'dhcp']).default('proxy'),
  /** How iPXE on this LAN reaches the relay. Default: http://<the relay's address there>:<http.port>. */
  public_url: z.string().optional(),
  /** Router advertisements (radvd, supervised) so iPXE does not wait for IPv6; off by default. */
  ra: z.boolean().default(false),
  /** The prefix advertised: "none" (an advertisement that configures nothing, the default), "ula" (the relay's own), or a /64. */
  ra_prefix: z.string().optional(),
  ...PoolKeys,
});
export type LanConfig = z.infer<typeof LanConfig>;

/**
 * `[dhcp]`: the DHCP server's own keys, and in the one-LAN form (no `[[lan]]`) that LAN's pool keys.
 *   port = 67, proxy_port = 4011
 *   recv_buffer = "4MiB"           socket receive buffer for storms (the kernel caps it at net.core.rmem_max)
 *   menu_text = "edgeboot"         what BIOS PXE ROMs print
 *   [dhcp.binaries]                bios, uefi_x64, uefi_arm64, uefi_ia32, uefi_arm32 (defaults: dhcp/boot-target.ts DEFAULT_BOOT_FILES)
 *   upgrade_ipxe = "when-needed"   never | when-needed | always: chain an iPXE without HTTPS once to ours (boot-target.ts IpxeUpgrades)
 *   ipxe_crosscert = "http://…"    iPXE's cross-signed certificate source (175.93) with direct https:// URLs
 *   max_hops = 4                   relayed requests that crossed more agents are dropped (RFC 1542 §4.1.1)
 */
export const DhcpConfig = z.strictObject({
  port: Port.default(67),
  proxy_port: Port.default(4011),
  recv_buffer: Size.default(4 * 1024 * 1024),
  menu_text: z.string().regex(/^[\x20-\x7e]{1,60}$/, '1–60 printable ASCII characters').default('edgeboot'),
  binaries: z
    .strictObject({ bios: BootFileName.optional(), uefi_x64: BootFileName.optional(), uefi_arm64: BootFileName.optional(), uefi_ia32: BootFileName.optional(), uefi_arm32: BootFileName.optional() })
    .prefault({}),
  // Chaining once costs a BIOS boot +11.6 s under qemu TCG (20.8 → 32.5 s, `npm run bench:boot-time -- --only ipxe`):
  // 6.9 s for TFTP + the chained iPXE's start, DHCP and ~4 s IPv6 wait, and ~4.6 s more for kernel + initrd over
  // undionly.kpxe's UNDI path. So only where a direct https:// URL needs it; never as a blanket `always`.
  upgrade_ipxe: z.enum(['never', 'when-needed', 'always']).default('when-needed'),
  ipxe_crosscert: z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/, 'http(s)://host[:port][/path], no trailing slash or query: iPXE appends /<crc32>.der?subject=…')
    .max(200)
    .optional(),
  max_hops: z.coerce.number().int().min(1).max(16).default(4),
  ...PoolKeys,
});
export type DhcpConfig = z.infer<typeof DhcpConfig>;

/**
 * `[tftp]`: port = 69, address = "<the relay's LAN IPv4>" (default: the host of http.public_url when it
 * is an IPv4 literal and one LAN is served, else 0.0.0.0), max_transfers = 512, max_per_client = 8,
 * max_blksize = 1468, max_windowsize = 64, timeout_ms = 1000, retries = 5, native = true (blocks sent
 * by the relay's native data path, relay/native/tftp-pump.c; false: by Node, about 0.8× as fast at
 * windowsize 1).
 */
export const TftpConfig = z.strictObject({
  port: Port.default(69),
  address: Ip.optional(),
  max_transfers: z.coerce.number().int().min(1).max(10_000).default(512),
  max_per_client: z.coerce.number().int().min(1).max(10_000).default(8),
  max_blksize: z.coerce.number().int().min(512).max(65464).default(1468),
  max_windowsize: z.coerce.number().int().min(1).max(65535).default(64),
  timeout_ms: z.coerce.number().int().min(50).max(255_000).default(1000),
  retries: z.coerce.number().int().min(0).max(100).default(5),
  native: z.boolean().default(true),
});
export type TftpConfig = z.infer<typeof TftpConfig>;

const RelayConfigShape = () =>
  z.strictObject({
    state_dir: Dir.default('/var/lib/edgeboot-relay'),
    /** The one LAN interface served, when there is no `[[lan]]` list. */
    interface: IfName.optional(),
    mode: z.enum(['proxy', 'dhcp']).default('proxy'),
    chaining: z.enum(['via-relay', 'direct']).default('via-relay'),
    boot_files: Dir.default(DEFAULT_BOOT_FILES_DIR),
    ra: z.boolean().default(false),
    ra_prefix: z.string().optional(),
    cloud: z
      .strictObject({
        url: BaseUrl.optional().meta({ description: 'default: the URL given at enrollment' }),
        ca_file: Dir.optional(),
        connect_timeout_ms: z.coerce.number().int().min(100).max(60_000).default(5_000),
      })
      .prefault({}),
    http: z.strictObject({
      listen: z.string().default('0.0.0.0'),
      port: Port.default(8080),
      public_url: BaseUrl.meta({ description: 'the LAN base URL iPXE reaches this relay at' }),
    }),
    cache: z
      .strictObject({
        dir: Dir.optional(),
        max_bytes: Size.default(20 * 1024 ** 3),
        /** Hot objects held in memory while they are being served (dropped after 30 s idle). */
        memory_bytes: Size.default(512 * 1024 ** 2),
      })
      .prefault({}),
    events: z
      .strictObject({
        max_bytes: Size.default(64 * 1024 ** 2),
        fsync_interval_ms: z.coerce.number().int().min(0).max(60_000).default(1_000),
        /** One machine's identical DHCP exchanges within this many seconds are one event and a count (sync/event-fold.ts); 0: every exchange its own event, retransmissions within 2 s aside. */
        repeat_window_seconds: z.coerce.number().int().min(0).max(3_600).default(30),
      })
      .prefault({}),
    sync: z.strictObject({ wait_seconds: z.coerce.number().int().min(0).max(30).default(25) }).prefault({}),
    dhcp: DhcpConfig.prefault({}),
    tftp: TftpConfig.prefault({}),
    /** Several LANs (interfaces, VLANs, segments behind relay agents); see LanConfig. */
    lan: z.array(LanConfig).min(1).max(32).optional(),
    log: z.strictObject({ quiet: z.boolean().default(false) }).prefault({}),
  });
export const RelayConfig = RelayConfigShape().superRefine((c, ctx) => {
    for (const [path, message] of lanProblems(c)) ctx.addIssue({ code: 'custom', path, message });
  });
export type RelayConfig = z.infer<typeof RelayConfig>;

/** One served LAN as the rest of the relay sees it: `[[lan]]` entries, or the one-LAN form made into one. */
export interface LanSpec extends Omit<LanConfig, 'public_url'> {
  /** For logs and metrics: the interface name, or `relayed:<network>`. */
  name: string;
  /** Always set: the LAN's own, else http.public_url for the one-LAN form and relayed LANs, else derived at start. */
  public_url: string | null;
}

/** The LANs this configuration serves (validated: RelayConfig's refinement already ran lanProblems). */
export function lanSpecs(c: Pick<RelayConfig, 'lan' | 'interface' | 'mode' | 'dhcp' | 'http' | 'ra' | 'ra_prefix'>): LanSpec[] {
  if (c.lan) {
    return c.lan.map((l) => ({
      ...l,
      ...(l.relayed && !l.subnet ? { subnet: l.relayed } : {}),
      name: l.interface ?? `relayed:${l.relayed}`,
      // One LAN in the list may keep the default URL; with several each derives its own from its address.
      public_url: l.public_url ?? (c.lan!.length === 1 || l.relayed ? c.http.public_url : null),
    }));
  }
  const d = c.dhcp;
  return [
    {
      ...(c.interface ? { interface: c.interface } : {}),
      name: c.interface ?? 'lan',
      mode: c.mode,
      public_url: c.http.public_url,
      ra: c.ra,
      ...(c.ra_prefix ? { ra_prefix: c.ra_prefix } : {}),
      ...(d.address ? { address: d.address } : {}),
      ...(d.subnet ? { subnet: d.subnet } : {}),
      ...(d.range ? { range: d.range } : {}),
      routers: d.routers,
      dns: d.dns,
      ...(d.domain ? { domain: d.domain } : {}),
      lease_seconds: d.lease_seconds,
      exclude: d.exclude,
    },
  ];
}

const POOL_KEYS = ['address', 'subnet', 'range', 'routers', 'dns', 'domain', 'lease_seconds', 'exclude'] as const;
const FULL_ONLY = ['range', 'routers', 'dns', 'domain', 'exclude'] as const;

/**
 * Cross-key rules zod cannot say per key, as [path, message] pairs so that every problem is listed
 * at once with the others: one form or the other, each LAN once, pools that fit their networks.
 */
function lanProblems(c: z.infer<ReturnType<typeof RelayConfigShape>>): Array<[PropertyKey[], string]> {
  const out: Array<[PropertyKey[], string]> = [];
  const prefix = (s: string | undefined) => (s ? /^[0-9.]+\/(\d+)$/.exec(s) : null);
  if (c.lan) {
    if (c.interface) out.push([['interface'], 'with [[lan]] entries, name the interface in each entry instead']);
    if (c.ra || c.ra_prefix) out.push([['ra'], 'with [[lan]] entries, set ra in each entry instead']);
    for (const k of POOL_KEYS) {
      const v = (c.dhcp as Record<string, unknown>)[k];
      if (v !== undefined && !(Array.isArray(v) && v.length === 0) && !(k === 'lease_seconds' && v === 3600)) out.push([['dhcp', k], `with [[lan]] entries, set ${k} in the entry of its LAN`]);
    }
  }
  const lans = lanSpecs(c);
  const seen = new Map<string, number>();
  lans.forEach((l, i) => {
    const at = (k: string): PropertyKey[] => (c.lan ? ['lan', i, k] : ['ra', 'ra_prefix', 'interface', 'mode'].includes(k) ? [k] : ['dhcp', k]);
    if (c.lan && !l.interface === !l.relayed) out.push([['lan', i], 'name exactly one of interface (a LAN of this box) or relayed (a network behind a DHCP relay agent)']);
    if (seen.has(l.name)) out.push([['lan', i], `${l.name} is served twice (entries ${seen.get(l.name)! + 1} and ${i + 1})`]);
    seen.set(l.name, i);
    if (l.mode === 'dhcp') {
      if (!l.range) out.push([at('range'), 'range = ["first", "last"] is required in mode = "dhcp": which addresses to hand out is not guessed']);
    } else {
      for (const k of FULL_ONLY) {
        const v = l[k];
        if (v !== undefined && !(Array.isArray(v) && v.length === 0)) out.push([at(k), `${k} is a full DHCP mode key; this LAN is in proxy mode`]);
      }
    }
    if (l.relayed && l.mode === 'proxy' && !l.address && !isIpv4(new URL(l.public_url ?? c.http.public_url).hostname)) {
      out.push([at('address'), 'a relayed LAN needs the relay address its clients reach (address, or an IPv4 public_url)']);
    }
    if (l.public_url !== null && l.public_url !== c.http.public_url && !BaseUrl.safeParse(l.public_url).success) out.push([at('public_url'), 'http(s)://host[:port], no path: iPXE pastes it into URLs']);
    if (l.ra_prefix !== undefined) {
      try {
        parseRaPrefix(l.ra_prefix);
      } catch (err) {
        out.push([at('ra_prefix'), (err as Error).message]);
      }
    }
    const subnet = l.subnet ?? l.relayed;
    if (l.range && subnet && prefix(subnet)) {
      const net = parseCidr(subnet);
      for (const ip of l.range) if (!inSubnet(ipToInt(ip), net)) out.push([at('range'), `${ip} is outside ${intToIp(net.network)}/${net.prefix}`]);
    }
    if (l.range && ipToInt(l.range[1]) < ipToInt(l.range[0])) out.push([at('range'), 'the last address comes before the first']);
  });
  return out;
}

/** Flags that override the file: --flag value → key path. */
export const FLAGS = {
  'state-dir': 'state_dir',
  interface: 'interface',
  mode: 'mode',
  chaining: 'chaining',
  'boot-files': 'boot_files',
  'cloud-url': 'cloud.url',
  'http-listen': 'http.listen',
  'http-port': 'http.port',
  'public-url': 'http.public_url',
  'cache-dir': 'cache.dir',
  'cache-max-bytes': 'cache.max_bytes',
  'cache-memory-bytes': 'cache.memory_bytes',
  'dhcp-port': 'dhcp.port',
  'tftp-port': 'tftp.port',
} as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads, overrides and validates; throws one ConfigError listing every problem. */
export function loadConfig(file: string | null, overrides: Partial<Record<keyof typeof FLAGS, string>> = {}): RelayConfig {
  let raw: Record<string, unknown> = {};
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`${file} is not valid TOML: ${err instanceof TomlError ? err.message : String(err)}`);
    }
  }
  for (const [flag, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const path = FLAGS[flag as keyof typeof FLAGS].split('.');
    let at = raw;
    for (const k of path.slice(0, -1)) {
      if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
      at = at[k] as Record<string, unknown>;
    }
    at[path.at(-1)!] = value;
  }
  const r = RelayConfig.safeParse(raw);
  if (!r.success) {
    const where = file ?? 'the flags';
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`invalid relay configuration in ${where}:\n${lines.join('\n')}`);
  }
  const c = r.data;
  const base = file ? resolve(file, '..') : process.cwd();
  c.state_dir = isAbsolute(c.state_dir) ? c.state_dir : resolve(base, c.state_dir);
  c.cache.dir = c.cache.dir ? resolve(base, c.cache.dir) : join(c.state_dir, 'cache');
  return c;
}
