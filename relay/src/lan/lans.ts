import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { ConfigError, lanSpecs, type LanSpec, type RelayConfig } from '../config.ts';
import { cidrOf, inSubnet, intToIp, ipToInt, isIpv4, maskOf, parseCidr, subnetOf, type Subnet } from '../dhcp/ipv4.ts';

/**
 * The LANs of relay.toml (config.ts `lanSpecs`) bound to this box: which address the relay has on
 * each, which network that is, and the URL iPXE there reaches the relay at. Resolved once at start,
 * every problem listed at once; main.ts and the DHCP layer read nothing else about LANs.
 */
export interface ServedLan {
  /** The interface name, or `relayed:<network>` (logs, metrics, lease journal names). */
  name: string;
  /** The local interface, or null for a segment behind a relay agent. */
  interface: string | null;
  /** A segment behind a relay agent (its requests carry a giaddr inside `subnet`). */
  relayed: boolean;
  mode: 'proxy' | 'dhcp';
  /** The relay's own address for these clients: option 54, siaddr, the TFTP server. */
  serverIp: string;
  subnet: Subnet;
  /** http://host[:port] that iPXE on this LAN reaches the relay at. */
  publicUrl: string;
  spec: LanSpec;
}

export type Nics = ReturnType<typeof networkInterfaces>;

/**
 * A configured interface that is not on this box (yet): a USB NIC not plugged in, a VLAN that
 * networkd has not made. Not a configuration mistake — the supervisor should try again (EX_TEMPFAIL).
 */
export class LanUnavailableError extends Error {
  override name = 'LanUnavailableError';
}

/**
 * The IPv4 addresses of an interface that Node does not list: libuv's interface list leaves out every
 * interface that is not running (no carrier: a cable out, a switch port still coming up, or a veth
 * whose link state the kernel has not settled yet), and a LAN must be served from the moment it has
 * a link, not only if it had one when the relay started. iproute2 (`ip -j`) lists them all.
 */
function addressesOfIdle(name: string): Array<{ address: string; netmask: string; family: 'IPv4' }> {
  if (!existsSync(`/sys/class/net/${name}`)) return [];
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', name], { encoding: 'utf8', timeout: 2_000 })) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
    return out.flatMap((l) => l.addr_info ?? []).filter((a) => a.local && isIpv4(a.local) && a.prefixlen !== undefined).map((a) => ({ address: a.local!, netmask: intToIp(maskOf(a.prefixlen!)), family: 'IPv4' as const }));
  } catch {
    return [];
  }
}

/** `/sys/class/net/<if>/ifindex`: a VLAN deleted and made again gets a new one (and old sockets bound to it hear nothing). */
export function ifindexOf(name: string): number | null {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    return null;
  }
}

/** `nics`: this box's interfaces (default: read now, with those that have no link found through iproute2). */
export function resolveLans(config: RelayConfig, given?: Nics): ServedLan[] {
  const live = given === undefined;
  const nics = given ?? networkInterfaces();
  const problems: string[] = [];
  const out: ServedLan[] = [];
  const specs = lanSpecs(config);
  const v4 = (name: string): Array<{ address: string; netmask: string }> => {
    const listed = (nics[name] ?? []).filter((a): a is NetworkInterfaceInfo & { family: 'IPv4' } => a.family === 'IPv4');
    return listed.length ? listed : live ? addressesOfIdle(name) : [];
  };
  const present = (name: string) => nics[name] !== undefined || (live && existsSync(`/sys/class/net/${name}`));
  const absent: string[] = [];
  for (const spec of specs) {
    const where = config.lan ? `[[lan]] ${spec.name}` : spec.interface ? `interface ${spec.interface}` : 'the served LAN';
    let serverIp: string | undefined;
    let subnet: Subnet | undefined;
    if (spec.relayed) {
      serverIp = spec.address ?? hostIpv4(spec.public_url ?? config.http.public_url);
      subnet = parseCidr(spec.relayed);
      if (!serverIp) problems.push(`${where}: set address (the relay's address its clients reach)`);
    } else if (spec.interface) {
      const addrs = v4(spec.interface);
      const a = spec.address ? addrs.find((x) => x.address === spec.address) : addrs[0];
      if (!present(spec.interface)) absent.push(`${where}: no interface ${spec.interface} on this box (yet): ${Object.keys(nics).join(', ') || 'none'}`);
      // No address yet (the box's own DHCP client, networkd still configuring it): tried again, not a mistake.
      else if (!a) absent.push(`${where}: ${spec.address ? `${spec.address} is not an address of ${spec.interface}` : `${spec.interface} has no IPv4 address`} (yet): the DHCP server needs the relay's address on it`);
      else {
        serverIp = a.address;
        subnet = subnetOf(a.address, a.netmask);
      }
    } else {
      // The one-LAN form without `interface`: the interface holding [dhcp] address or http.public_url's host.
      const wanted = spec.address ?? hostIpv4(config.http.public_url);
      for (const name of Object.keys(nics)) {
        const a = v4(name).find((x) => x.address === wanted);
        if (a) {
          serverIp = a.address;
          subnet = subnetOf(a.address, a.netmask);
          spec.interface = name;
          spec.name = name;
          break;
        }
      }
      if (!serverIp) problems.push('set `interface` (or [dhcp] address): no interface holds the address of http.public_url');
    }
    if (!serverIp || !subnet) continue;
    if (spec.subnet && !spec.relayed) {
      const given = parseCidr(spec.subnet);
      if (!inSubnet(ipToInt(serverIp), given)) problems.push(`${where}: subnet ${spec.subnet} does not hold the relay's address ${serverIp}`);
      subnet = given;
    }
    if (spec.range) for (const ip of spec.range) if (!inSubnet(ipToInt(ip), subnet)) problems.push(`${where}: range: ${ip} is outside ${cidrOf(subnet)}`);
    const publicUrl = spec.public_url ?? `http://${serverIp}:${config.http.port}`;
    out.push({ name: spec.name, interface: spec.interface ?? null, relayed: !!spec.relayed, mode: spec.mode, serverIp, subnet, publicUrl, spec });
  }
  // Two LANs on one network would each answer its clients: refuse, whatever the interfaces are called.
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i]!;
      const b = out[j]!;
      if (overlap(a.subnet, b.subnet)) problems.push(`${a.name} and ${b.name} are the same network (${cidrOf(a.subnet)} and ${cidrOf(b.subnet)}): serve it once`);
    }
  }
  if (problems.length) throw new ConfigError(`the relay cannot serve its LANs:\n${[...problems, ...absent].map((p) => `  ${p}`).join('\n')}`);
  if (absent.length) throw new LanUnavailableError(`the relay cannot serve its LANs yet:\n${absent.map((p) => `  ${p}`).join('\n')}`);
  return out;
}

function overlap(a: Subnet, b: Subnet): boolean {
  const mask = a.prefix < b.prefix ? a.mask : b.mask;
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

function hostIpv4(url: string): string | undefined {
  const host = new URL(url).hostname;
  return isIpv4(host) ? host : undefined;
}

/** What the cloud is told about each LAN (heartbeat): enough to see two relays' pools collide. */
export function lanSummary(lans: ServedLan[]): Array<{ interface: string | null; subnet: string; mode: 'proxy' | 'dhcp'; range: [string, string] | null; relayed: boolean }> {
  return lans.map((l) => ({ interface: l.interface, subnet: cidrOf(l.subnet), mode: l.mode, range: l.spec.range ?? null, relayed: l.relayed }));
}
