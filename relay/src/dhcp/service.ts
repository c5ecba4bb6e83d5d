import { join } from 'node:path';
import { ConfigError } from '../config.ts';
import { ifindexOf, resolveLans, type ServedLan } from '../lan/lans.ts';
import type { LanService, RelayContext } from '../lan/context.ts';
import { DirectBootUrls } from '../sync/direct-boot.ts';
import { AddressBook } from './address-book.ts';
import { bootTarget, IpxeUpgrades, servableBootFiles, type TargetResult } from './boot-target.ts';
import { existsSync } from 'node:fs';
import { cidrOf, intToIp, ipToInt, maskOf } from './ipv4.ts';
import { LeaseJournal } from './lease-journal.ts';
import { LeaseTable } from './leases.ts';
import { createResponder, type FullModeConfig } from './responder.ts';
import { createDhcpServer, type DhcpServer } from './server.ts';

/**
 * DHCP as a LAN service of the relay (main.ts `lanServices`): for each served LAN (lan/lans.ts) the
 * decision the responder asks for (snapshot → boot target → nonce or direct URL, with that LAN's URL),
 * and in full mode its lease table and journal; one socket loop for all of them (server.ts); counters
 * to /metrics; and a watch on the LANs' interfaces (a VLAN can be deleted and made again while the
 * relay runs).
 *
 * Keys: `[dhcp]` and `[[lan]]` in config.ts (DhcpConfig, LanConfig), validated with the rest of relay.toml.
 */
export type Lan = ServedLan;

/** How often the LANs' interfaces are looked at (a missing VLAN stops its replies within this long). */
const WATCH_INTERVAL_MS = 5_000;

export interface DhcpServiceOptions {
  /** Shared with TFTP: which MAC holds which address (for its events). */
  addresses?: AddressBook;
  /** Interface → fd of a socket bound to it (lan/device-sockets.ts); LANs without one share 0.0.0.0. */
  deviceFds?: ReadonlyMap<string, number>;
  /** The LANs, when the caller resolved them already (the CLI does, before anything starts). */
  lans?: ServedLan[];
  /** Asked for when an interface came back as a new device: its old socket hears nothing now. */
  restart?: (why: string) => void;
}

function fullMode(lan: ServedLan, journal: LeaseJournal): FullModeConfig {
  const l = lan.spec;
  const [first, last] = l.range!;
  const subnet = lan.subnet;
  const broadcast = (subnet.network | ~subnet.mask) >>> 0;
  const table = new LeaseTable({
    first,
    last,
    // Never hand out the relay's own address, the network or the broadcast address.
    exclude: [...l.exclude, lan.serverIp, intToIp(subnet.network), intToIp(broadcast)],
    onChange: (change) => journal.append(change),
  });
  for (const change of journal.load()) table.restore(change);
  return {
    table,
    subnet,
    leaseSeconds: l.lease_seconds,
    subnetMask: intToIp(maskOf(subnet.prefix)),
    routers: l.routers,
    dnsServers: l.dns,
    ...(l.domain ? { domainName: l.domain } : {}),
  };
}

export function dhcpService(o: DhcpServiceOptions = {}) {
  return async (
    ctx: Pick<RelayContext, 'config' | 'log' | 'events' | 'metrics' | 'snapshot' | 'nonces' | 'credentials'> & Partial<Pick<RelayContext, 'signedChain'>>,
  ): Promise<LanService & { server: DhcpServer; port: number; proxyPort: number | null; lans: ServedLan[]; full: Map<string, FullModeConfig> }> => {
    const c = ctx.config.dhcp;
    const log = ctx.log.child('dhcp');
    const lans = o.lans ?? resolveLans(ctx.config);
    const servable = servableBootFiles(c.binaries, (name) => existsSync(join(ctx.config.boot_files, name)));
    if (servable.problems.length && existsSync(ctx.config.boot_files)) throw new ConfigError(servable.problems.join('\n'));
    if (servable.dropped.length) log.warn('boot files missing from boot_files are not offered: those clients are told why', { dir: ctx.config.boot_files, missing: servable.dropped });
    const files = servable.files;
    const direct = ctx.config.chaining === 'direct' ? new DirectBootUrls(ctx.credentials, ctx.config.cloud.url ?? ctx.credentials.cloudUrl) : null;
    const upgrades = new IpxeUpgrades({
      policy: c.upgrade_ipxe,
      needsHttps: direct !== null && (ctx.config.cloud.url ?? ctx.credentials.cloudUrl).startsWith('https:'),
      bootFiles: files,
      onRefused: (mac, note) => log.warn('not chaining iPXE again', { mac, reason: 'chained-recently', note }),
    });
    const addresses = o.addresses ?? new AddressBook();
    const journals = new Map<string, LeaseJournal>();
    const full = new Map<string, FullModeConfig>();
    // One lease journal per full-mode LAN; the one-LAN form keeps the file name it always had.
    const journalName = (lan: ServedLan) => (lans.length === 1 ? 'leases.jsonl' : `leases-${lan.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.jsonl`);
    try {
      for (const lan of lans) {
        if (lan.mode !== 'dhcp') continue;
        const journal = new LeaseJournal({ path: join(ctx.config.state_dir, journalName(lan)), log });
        journals.set(lan.name, journal);
        full.set(lan.name, fullMode(lan, journal));
      }
    } catch (err) {
      for (const j of journals.values()) j.close();
      throw err instanceof ConfigError ? err : new ConfigError(`[dhcp]: ${(err as Error).message}`);
    }
    if (full.size) {
      addresses.lookup = (ip) => {
        const n = ipToInt(ip);
        for (const f of full.values()) if (((n & f.subnet.mask) >>> 0) === f.subnet.network) return f.table.holder(ip);
        return undefined;
      };
    }

    const serverLans = lans.map((lan) => {
      const f = full.get(lan.name) ?? null;
      const httpBase = lan.publicUrl;
      // Synchronous unless direct signing needs its promise: the responder then answers in the same turn (issue 18).
      const target = (client: Parameters<typeof bootTarget>[0], ip: string | null): TargetResult | Promise<TargetResult> => {
        if (!ctx.snapshot.snapshot) return { ok: false, reason: 'no site snapshot yet: the relay has never synced with the cloud' };
        if (!ctx.snapshot.netbootFor(client.mac, client.arch.arch)) return { ok: false, reason: 'the site snapshot says this machine boots from its disk' };
        // UEFI x64 firmware whose profile names a shim and a GRUB gets the signed chain instead of iPXE.
        const signed = client.kind !== 'ipxe' && client.arch.arch === 'uefi-x64' ? ctx.signedChain?.target(client.mac, client.kind === 'firmware' && !client.arch.http) : null;
        if (signed) return signed;
        // Only an iPXE that says it speaks HTTPS can follow a direct cloud URL; any other keeps the LAN path.
        const chained = upgrades.target(client);
        if (chained) return { ok: true, target: chained };
        if (client.kind === 'ipxe' && direct && client.ipxe?.https) return direct.urlFor(client.mac, client.arch.code).then((url): TargetResult => ({ ok: true, target: { kind: 'script', url, ...(c.ipxe_crosscert ? { crosscert: c.ipxe_crosscert } : {}) } }));
        return bootTarget(client, { httpBase, bootFiles: files }, client.kind === 'ipxe' ? ctx.nonces.issue(client.mac, ip) : undefined);
      };
      const respond = createResponder({
        mode: lan.mode,
        reply: { serverIp: lan.serverIp, menuText: c.menu_text },
        target,
        ...(f ? { full: f } : {}),
        learn: (mac, ip) => addresses.set(ip, mac),
      });
      const journal = journals.get(lan.name) ?? null;
      return {
        name: lan.name,
        interface: lan.interface,
        relayed: lan.relayed,
        serverIp: lan.serverIp,
        subnet: lan.subnet,
        respond: (req: Parameters<typeof respond>[0], arrival: Parameters<typeof respond>[1]) => {
          const out = respond(req, arrival);
          // Compaction is amortised O(1) (once per ~2× the live leases' worth of changes) and off the loop.
          if (f && journal!.wantsCompaction(f.table.size)) void journal!.compact(f.table.entries());
          return out;
        },
      };
    });
    const server = createDhcpServer({
      port: c.port,
      proxyPort: c.proxy_port,
      lans: serverLans,
      ...(o.deviceFds ? { deviceFds: o.deviceFds } : {}),
      maxHops: c.max_hops,
      onEvent: (e) => ctx.events.emit(e),
      log: ctx.log,
      recvBufferBytes: c.recv_buffer,
    });
    let at;
    try {
      at = await server.listen();
    } catch (err) {
      for (const j of journals.values()) j.close();
      throw err;
    }
    // The kernel silently caps the buffer at net.core.rmem_max (Debian's default: 208 KiB); a storm of
    // DISCOVERs then overflows it and clients wait for their retransmissions.
    if (at.recvBufferBytes < 2 * c.recv_buffer) log.warn('the DHCP receive buffer is smaller than configured', { asked: c.recv_buffer, granted: at.recvBufferBytes, fix: `sysctl -w net.core.rmem_max=${c.recv_buffer}` });
    const shared = lans.filter((l) => !l.relayed && !at.deviceBound.includes(l.name));
    if (shared.length && lans.length > 1) log.warn('a LAN is served on the shared socket, which hears every interface', { lan: shared[0]!.name });
    log.info('dhcp listening', {
      port: at.port,
      proxyPort: at.proxyPort,
      recvBufferBytes: at.recvBufferBytes,
      lans: lans.map((l) => ({
        name: l.name,
        mode: l.mode,
        serverIp: l.serverIp,
        subnet: cidrOf(l.subnet),
        socket: l.relayed ? 'relayed' : at.deviceBound.includes(l.name) ? 'bound to the interface' : 'shared',
        ...(full.get(l.name) ? { range: l.spec.range, leases: full.get(l.name)!.table.counts() } : {}),
      })),
      // The one-LAN form's fields, as before.
      mode: lans[0]!.mode,
      serverIp: lans[0]!.serverIp,
      interface: lans[0]!.interface,
    });
    registerMetrics(ctx.metrics, server, full);
    ctx.metrics.gauge('edgeboot_relay_dhcp_ipxe_upgrades', 'old iPXE clients chained to the relay\'s iPXE since start (chained-recently: refused a second chain)', () => Object.entries(upgrades.counts).map(([outcome, n]) => [{ outcome }, n]));
    const stopWatch = watchInterfaces(lans.filter((l) => l.interface && at.deviceBound.includes(l.name)), server, log, o.restart);
    return {
      server,
      port: at.port,
      proxyPort: at.proxyPort,
      lans,
      full,
      close: async () => {
        stopWatch();
        await server.close();
        for (const j of journals.values()) j.close();
      },
    };
  };
}

/**
 * A device-bound socket belongs to the interface index it was bound to. An interface that goes away
 * (a VLAN deleted, a USB NIC pulled) stops its LAN's replies, with a log line and a counted reason per
 * request meanwhile; the other LANs go on. One that comes back is a new device: the old socket hears
 * nothing on it, so the relay asks to be restarted (its sockets are made again, ~1 s).
 */
function watchInterfaces(lans: ServedLan[], server: DhcpServer, log: RelayContext['log'], restart?: (why: string) => void): () => void {
  if (!lans.length) return () => undefined;
  const index = new Map(lans.map((l) => [l.name, ifindexOf(l.interface!)]));
  const timer = setInterval(() => {
    for (const l of lans) {
      const now = ifindexOf(l.interface!);
      const was = index.get(l.name);
      if (now === was) continue;
      if (now === null) {
        server.setPresent(l.name, false);
        log.warn('a served interface disappeared: its LAN gets no answers until it is back', { lan: l.name, interface: l.interface });
      } else if (was === null && restart) {
        log.warn('a served interface is back as a new device: restarting to bind it again', { lan: l.name, interface: l.interface, ifindex: now });
        restart(`interface ${l.interface} was made again`);
      } else if (was !== null && restart) {
        log.warn('a served interface was replaced by a new device: restarting to bind it again', { lan: l.name, interface: l.interface, ifindex: now });
        restart(`interface ${l.interface} was replaced`);
      }
      index.set(l.name, now);
    }
  }, WATCH_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function registerMetrics(m: RelayContext['metrics'], server: DhcpServer, full: Map<string, FullModeConfig>): void {
  m.gauge('edgeboot_relay_dhcp_received', 'DHCP packets received since start', () => server.stats().received);
  m.gauge('edgeboot_relay_dhcp_sent', 'DHCP replies sent since start, by message type', () => Object.entries(server.stats().sent).map(([type, n]) => [{ type }, n]));
  m.gauge('edgeboot_relay_dhcp_ignored', 'DHCP requests deliberately not answered since start, by reason', () => Object.entries(server.stats().ignored).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_dhcp_drops', 'DHCP packets dropped as unusable since start, by reason', () => Object.entries(server.stats().drops).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_dhcp_malformed', 'DHCP packets dropped as unreadable since start, by what was wrong (header, chaddr, option 53/54/50)', () => Object.entries(server.stats().malformed).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_dhcp_option_faults', 'options dropped from DHCP packets that were still answered, by fault (the rest of the packet was usable)', () => Object.entries(server.stats().optionFaults).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_dhcp_lan_received', 'DHCP packets received since start, by served LAN', () => Object.entries(server.stats().perLan).map(([lan, n]) => [{ lan }, n]));
  if (full.size) {
    m.gauge('edgeboot_relay_dhcp_leases', 'full-mode addresses by LAN and state (capacity: the whole range)', () =>
      [...full].flatMap(([lan, f]) => {
        const c = f.table.counts();
        return [
          [{ lan, state: 'bound' }, c.bound],
          [{ lan, state: 'offered' }, c.offered],
          [{ lan, state: 'declined' }, c.declined],
          [{ lan, state: 'capacity' }, c.capacity],
        ] as Array<[Record<string, string>, number]>;
      }),
    );
  }
}
