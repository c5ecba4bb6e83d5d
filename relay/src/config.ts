import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';

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

export const RelayConfig = z.strictObject({
  state_dir: Dir.default('/var/lib/edgeboot-relay'),
  interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'a network interface name').optional(),
  mode: z.enum(['proxy', 'dhcp']).default('proxy'),
  chaining: z.enum(['via-relay', 'direct']).default('via-relay'),
  boot_files: Dir.default(DEFAULT_BOOT_FILES_DIR),
  cloud: z
    .strictObject({
      url: BaseUrl.optional().meta({ description: 'default: the URL given at enrollment' }),
      ca_file: Dir.optional(),
      connect_timeout_ms: z.coerce.number().int().min(100).max(60_000).default(5_000),
    })
    .prefault({}),
  http: z
    .strictObject({
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
  events: z.strictObject({ max_bytes: Size.default(64 * 1024 ** 2), fsync_interval_ms: z.coerce.number().int().min(0).max(60_000).default(1_000) }).prefault({}),
  sync: z.strictObject({ wait_seconds: z.coerce.number().int().min(0).max(30).default(25) }).prefault({}),
  /** Read by the DHCP layer (relay/src/dhcp). */
  dhcp: z.looseObject({ port: Port.default(67), proxy_port: Port.default(4011) }).prefault({}),
  /** Read by the TFTP layer (relay/src/tftp). */
  tftp: z.looseObject({ port: Port.default(69) }).prefault({}),
  log: z.strictObject({ quiet: z.boolean().default(false) }).prefault({}),
});
export type RelayConfig = z.infer<typeof RelayConfig>;

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
