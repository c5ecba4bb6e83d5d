import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, Size } from '../config.ts';
import type { LanService, RelayContext } from '../main.ts';
import { DirectBootUrls } from '../sync/direct-boot.ts';
import { AddressBook } from './address-book.ts';
import { bootTarget, DEFAULT_BOOT_FILES, IpxeUpgrades, type BootFiles, type TargetResult } from './boot-target.ts';
import { inSubnet, intToIp, ipToInt, isIpv4, maskOf, parseCidr, subnetOf, type Subnet } from './ipv4.ts';
import { LeaseJournal } from './lease-journal.ts';
import { LeaseTable } from './leases.ts';
import { createResponder, type FullModeConfig } from './responder.ts';
import { createDhcpServer, type DhcpServer } from './server.ts';

/**
 * DHCP as a LAN service of the relay (main.ts `lanServices`): works out the served LAN, builds the
 * decision the responder asks for (snapshot → boot target → nonce or direct URL), the lease table
 * and its journal in full mode, and exports counters to /metrics.
 *
 * `[dhcp]` keys (relay.toml):
 *   port = 67, proxy_port = 4011
 *   address = "<relay LAN IPv4>"   default: the IPv4 address of `interface`, else the host of http.public_url
 *   recv_buffer = "4MiB"           socket receive buffer for storms (the kernel caps it at net.core.rmem_max)
 *   menu_text = "edgeboot"         what BIOS PXE ROMs print
 *   [dhcp.binaries]                bios = "undionly.kpxe", uefi_x64 = "ipxe.efi", uefi_arm64 = "ipxe-arm64.efi", uefi_ia32, uefi_arm32
 *   upgrade_ipxe = "when-needed"   never | when-needed | always: chain an iPXE without HTTPS once to ours (boot-target.ts IpxeUpgrades)
 *   ipxe_crosscert = "http://…"    iPXE's cross-signed certificate source (175.93) with direct https:// URLs
 * Full mode (`mode = "dhcp"`) only:
 *   subnet = "10.0.0.0/24"         default: the interface's
 *   range = ["10.0.0.100", "10.0.0.199"]   required: which addresses to hand out is not guessed
 *   routers = [], dns = [], domain = "…", lease_seconds = 3600, exclude = []
 */
const Ip = z.string().refine(isIpv4, 'an IPv4 address');
const File = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,100}$/, 'a file name under boot_files');

export const DhcpConfig = z.strictObject({
  port: z.coerce.number().int().min(1).max(65535).default(67),
  proxy_port: z.coerce.number().int().min(1).max(65535).default(4011),
  address: Ip.optional(),
  recv_buffer: Size.default(4 * 1024 * 1024),
  menu_text: z.string().regex(/^[\x20-\x7e]{1,60}$/, '1–60 printable ASCII characters').default('edgeboot'),
  binaries: z
    .strictObject({ bios: File.optional(), uefi_x64: File.optional(), uefi_arm64: File.optional(), uefi_ia32: File.optional(), uefi_arm32: File.optional() })
    .prefault({}),
  subnet: z.string().optional(),
  range: z.tuple([Ip, Ip]).optional(),
  routers: z.array(Ip).max(8).default([]),
  dns: z.array(Ip).max(8).default([]),
  domain: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'a DNS domain name').optional(),
  lease_seconds: z.coerce.number().int().min(60).max(30 * 86_400).default(3600),
  exclude: z.array(Ip).max(1024).default([]),
  // Chaining once costs a BIOS boot +11.6 s under qemu TCG (20.8 → 32.5 s, `npm run bench:boot-time -- --only ipxe`):
  // 6.9 s for TFTP + the chained iPXE's start, DHCP and ~4 s IPv6 wait, and ~4.6 s more for kernel + initrd over
  // undionly.kpxe's UNDI path. So only where a direct https:// URL needs it; never as a blanket `always`.
  upgrade_ipxe: z.enum(['never', 'when-needed', 'always']).default('when-needed'),
  ipxe_crosscert: z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/, 'http(s)://host[:port][/path], no trailing slash or query: iPXE appends /<crc32>.der?subject=…')
    .max(200)
    .optional(),
});
export type DhcpConfig = z.infer<typeof DhcpConfig>;

export interface Lan {
  serverIp: string;
  subnet: Subnet;
  /** The interface that holds serverIp, when it could be found. */
  interface: string | null;
}

/** The served LAN: the configured interface's IPv4 address, or the given/implied address's interface. */
export function resolveLan(cfg: Pick<RelayContext['config'], 'interface' | 'http'>, dhcp: DhcpConfig, nics = networkInterfaces()): Lan {
  const host = new URL(cfg.http.public_url).hostname;
  const wanted = dhcp.address ?? (cfg.interface ? undefined : isIpv4(host) ? host : undefined);
  for (const [name, addrs] of Object.entries(nics)) {
    if (cfg.interface && name !== cfg.interface) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && (wanted === undefined || x.address === wanted));
    if (a) return { serverIp: a.address, subnet: subnetOf(a.address, a.netmask), interface: name };
  }
  if (cfg.interface) throw new ConfigError(`interface ${cfg.interface} has no IPv4 address${wanted ? ` ${wanted}` : ''}: the DHCP server needs the relay's LAN address`);
  throw new ConfigError('set `interface` (or [dhcp] address): no interface holds the address of http.public_url');
}

function bootFiles(b: DhcpConfig['binaries']): BootFiles {
  return {
    bios: b.bios ?? DEFAULT_BOOT_FILES.bios,
    uefiX64: b.uefi_x64 ?? DEFAULT_BOOT_FILES.uefiX64,
    uefiArm64: b.uefi_arm64 ?? DEFAULT_BOOT_FILES.uefiArm64,
    uefiIa32: b.uefi_ia32 ?? DEFAULT_BOOT_FILES.uefiIa32,
    uefiArm32: b.uefi_arm32 ?? DEFAULT_BOOT_FILES.uefiArm32,
  };
}

function fullMode(c: DhcpConfig, lan: Lan, journal: LeaseJournal): FullModeConfig {
  if (!c.range) throw new ConfigError('[dhcp] range = ["first", "last"] is required in mode = "dhcp"');
  let subnet = lan.subnet;
  if (c.subnet) {
    try {
      subnet = parseCidr(c.subnet);
    } catch (err) {
      throw new ConfigError(`[dhcp] subnet: ${(err as Error).message}`);
    }
  }
  const [first, last] = c.range;
  for (const ip of [first, last]) if (!inSubnet(ipToInt(ip), subnet)) throw new ConfigError(`[dhcp] range: ${ip} is outside ${intToIp(subnet.network)}/${subnet.prefix}`);
  if (ipToInt(last) < ipToInt(first)) throw new ConfigError('[dhcp] range: the last address comes before the first');
  const broadcast = (subnet.network | ~subnet.mask) >>> 0;
  const table = new LeaseTable({
    first,
    last,
    // Never hand out the relay's own address, the network or the broadcast address.
    exclude: [...c.exclude, lan.serverIp, intToIp(subnet.network), intToIp(broadcast)],
    onChange: (change) => journal.append(change),
  });
  for (const change of journal.load()) table.restore(change);
  return {
    table,
    subnet,
    leaseSeconds: c.lease_seconds,
    subnetMask: intToIp(maskOf(subnet.prefix)),
    routers: c.routers,
    dnsServers: c.dns,
    ...(c.domain ? { domainName: c.domain } : {}),
  };
}

export interface DhcpServiceOptions {
  /** Shared with TFTP: which MAC holds which address (for its events). */
  addresses?: AddressBook;
}

export function dhcpService(o: DhcpServiceOptions = {}) {
  return async (ctx: Pick<RelayContext, 'config' | 'log' | 'events' | 'metrics' | 'snapshot' | 'nonces' | 'credentials'> & Partial<Pick<RelayContext, 'signedChain'>>): Promise<LanService & { server: DhcpServer; port: number; proxyPort: number | null; lan: Lan; full: FullModeConfig | null }> => {
    const parsed = DhcpConfig.safeParse(ctx.config.dhcp);
    if (!parsed.success) throw new ConfigError(`[dhcp]: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(table)'}: ${i.message}`).join('; ')}`);
    const c = parsed.data;
    const log = ctx.log.child('dhcp');
    const lan = resolveLan(ctx.config, c);
    const files = bootFiles(c.binaries);
    const httpBase = ctx.config.http.public_url;
    const direct = ctx.config.chaining === 'direct' ? new DirectBootUrls(ctx.credentials, ctx.config.cloud.url ?? ctx.credentials.cloudUrl) : null;
    const upgrades = new IpxeUpgrades({
      policy: c.upgrade_ipxe,
      needsHttps: direct !== null && (ctx.config.cloud.url ?? ctx.credentials.cloudUrl).startsWith('https:'),
      bootFiles: files,
      onRefused: (mac, note) => log.warn('not chaining iPXE again', { mac, reason: 'chained-recently', note }),
    });
    const addresses = o.addresses ?? new AddressBook();
    const journal = ctx.config.mode === 'dhcp' ? new LeaseJournal({ path: join(ctx.config.state_dir, 'leases.jsonl'), log }) : null;
    const full = journal ? fullMode(c, lan, journal) : null;
    if (full) addresses.lookup = (ip) => full.table.holder(ip);

    const target = async (client: Parameters<typeof bootTarget>[0], ip: string | null): Promise<TargetResult> => {
      if (!ctx.snapshot.snapshot) return { ok: false, reason: 'no site snapshot yet: the relay has never synced with the cloud' };
      if (!ctx.snapshot.netbootFor(client.mac, client.arch.arch)) return { ok: false, reason: 'the site snapshot says this machine boots from its disk' };
      // UEFI x64 firmware whose profile names a shim and a GRUB gets the signed chain instead of iPXE.
      const signed = client.kind !== 'ipxe' && client.arch.arch === 'uefi-x64' ? ctx.signedChain?.target(client.mac, client.kind === 'firmware' && !client.arch.http) : null;
      if (signed) return signed;
      // Only an iPXE that says it speaks HTTPS can follow a direct cloud URL; any other keeps the LAN path.
      const chained = upgrades.target(client);
      if (chained) return { ok: true, target: chained };
      if (client.kind === 'ipxe' && direct && client.ipxe?.https) return { ok: true, target: { kind: 'script', url: await direct.urlFor(client.mac, client.arch.code), ...(c.ipxe_crosscert ? { crosscert: c.ipxe_crosscert } : {}) } };
      return bootTarget(client, { httpBase, bootFiles: files }, client.kind === 'ipxe' ? ctx.nonces.issue(client.mac, ip) : undefined);
    };
    const respond = createResponder({
      mode: ctx.config.mode,
      reply: { serverIp: lan.serverIp, menuText: c.menu_text },
      target,
      ...(full ? { full } : {}),
      learn: (mac, ip) => addresses.set(ip, mac),
    });
    const server = createDhcpServer({
      port: c.port,
      serverIp: lan.serverIp,
      proxyPort: c.proxy_port,
      subnet: full?.subnet ?? lan.subnet,
      respond: async (req, arrival) => {
        const out = await respond(req, arrival);
        // Compaction is amortised O(1) (once per ~2× the live leases' worth of changes) and off the loop.
        if (full && journal!.wantsCompaction(full.table.size)) void journal!.compact(full.table.entries());
        return out;
      },
      onEvent: (e) => ctx.events.emit(e),
      log: ctx.log,
      recvBufferBytes: c.recv_buffer,
    });
    const at = await server.listen();
    checkBroadcastRoute(lan, log);
    // The kernel silently caps the buffer at net.core.rmem_max (Debian's default: 208 KiB); a storm of
    // DISCOVERs then overflows it and clients wait for their retransmissions.
    if (at.recvBufferBytes < 2 * c.recv_buffer) log.warn('the DHCP receive buffer is smaller than configured', { asked: c.recv_buffer, granted: at.recvBufferBytes, fix: `sysctl -w net.core.rmem_max=${c.recv_buffer}` });
    log.info('dhcp listening', { mode: ctx.config.mode, recvBufferBytes: at.recvBufferBytes, serverIp: lan.serverIp, subnet: `${intToIp(lan.subnet.network)}/${lan.subnet.prefix}`, interface: lan.interface, port: at.port, proxyPort: at.proxyPort, ...(full ? { range: c.range, leases: full.table.counts() } : {}) });
    registerMetrics(ctx.metrics, server, full);
    ctx.metrics.gauge('edgeboot_relay_dhcp_ipxe_upgrades', 'old iPXE clients chained to the relay\'s iPXE since start (chained-recently: refused a second chain)', () => Object.entries(upgrades.counts).map(([outcome, n]) => [{ outcome }, n]));
    return {
      server,
      port: at.port,
      proxyPort: at.proxyPort,
      lan,
      full,
      close: async () => {
        await server.close();
        journal?.close();
      },
    };
  };
}

/**
 * Replies to 255.255.255.255 leave by whatever interface the routing table picks (Node cannot choose
 * one): on a box with a WAN and a LAN interface that is usually the WAN. Say so, with the fix.
 */
function checkBroadcastRoute(lan: Lan, log: RelayContext['log']): void {
  if (!lan.interface) return;
  let dev: string | undefined;
  try {
    dev = /\bdev (\S+)/.exec(execFileSync('ip', ['route', 'get', '255.255.255.255'], { encoding: 'utf8', timeout: 2_000 }))?.[1];
  } catch {
    return; // no iproute2, or no route at all: the first broadcast will say so in the drop counters
  }
  if (dev && dev !== lan.interface) {
    log.warn('broadcast replies would leave by another interface', { via: dev, served: lan.interface, fix: `ip route add 255.255.255.255/32 dev ${lan.interface}` });
  }
}

function registerMetrics(m: RelayContext['metrics'], server: DhcpServer, full: FullModeConfig | null): void {
  m.gauge('edgeboot_relay_dhcp_received', 'DHCP packets received since start', () => server.stats().received);
  m.gauge('edgeboot_relay_dhcp_sent', 'DHCP replies sent since start, by message type', () => Object.entries(server.stats().sent).map(([type, n]) => [{ type }, n]));
  m.gauge('edgeboot_relay_dhcp_ignored', 'DHCP requests deliberately not answered since start, by reason', () => Object.entries(server.stats().ignored).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_dhcp_drops', 'DHCP packets dropped as unusable since start, by reason', () => Object.entries(server.stats().drops).map(([reason, n]) => [{ reason }, n]));
  if (full) {
    m.gauge('edgeboot_relay_dhcp_leases', 'full-mode addresses by state (capacity: the whole range)', () => {
      const c = full.table.counts();
      return [
        [{ state: 'bound' }, c.bound],
        [{ state: 'offered' }, c.offered],
        [{ state: 'declined' }, c.declined],
        [{ state: 'capacity' }, c.capacity],
      ];
    });
  }
}
