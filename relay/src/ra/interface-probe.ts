import { readFileSync } from 'node:fs';
import { formatIpv6 } from './prefix.ts';

/**
 * Why radvd could not advertise on an interface, read from the kernel's own files in the relay's
 * network namespace (/proc/net is /proc/self/net; /proc/sys/net shows the reader's namespace).
 *
 * radvd itself says nothing in most of these cases: with disable_ipv6=1 it starts, logs only its
 * forwarding notices, and sends nothing (seen with radvd 2.19 on bookworm), because an interface
 * without a link-local address has no source address for an RA (RFC 4861 §4.2: the source MUST be
 * link-local). It recovers by itself once the address appears (it listens to netlink), so these
 * checks only have to say what is wrong and how to fix it.
 */
export type ProblemReason =
  | 'no-ipv6-kernel'
  | 'no-interface'
  | 'ipv6-disabled'
  | 'no-link-local-generation'
  | 'dad-failed'
  | 'no-link-local'
  | 'tentative';

export interface InterfaceProblem {
  reason: ProblemReason;
  /** 'error': needs the operator; 'warn': usually passes by itself (an interface coming up, DAD). */
  severity: 'error' | 'warn';
  message: string;
}

export interface IfInet6Entry {
  address: string;
  ifindex: number;
  prefixLength: number;
  /** 0x20 link-local, 0x00 global, 0x10 host. */
  scope: number;
  /** IFA_F_* (include/uapi/linux/if_addr.h): 0x40 tentative, 0x08 DAD failed, 0x20 deprecated. */
  flags: number;
  name: string;
}

export const IFA_F_DADFAILED = 0x08;
export const IFA_F_TENTATIVE = 0x40;
const SCOPE_LINK = 0x20;

/**
 * /proc/net/if_inet6, one address a line: 32 hex digits, then ifindex, prefix length, scope and flags
 * in hex, then the interface name (net/ipv6/addrconf.c, if6_seq_show).
 */
export function parseIfInet6(text: string): IfInet6Entry[] {
  const out: IfInet6Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 6 || !/^[0-9a-f]{32}$/.test(f[0]!)) continue;
    out.push({
      address: formatIpv6(f[0]!.match(/../g)!.map((h) => parseInt(h, 16))),
      ifindex: parseInt(f[1]!, 16),
      prefixLength: parseInt(f[2]!, 16),
      scope: parseInt(f[3]!, 16),
      flags: parseInt(f[4]!, 16),
      name: f[5]!,
    });
  }
  return out;
}

/** Reads a kernel file; null when it does not exist or cannot be read. */
export type ReadKernelFile = (path: string) => string | null;

export const readKernelFile: ReadKernelFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** Null when `name` can send router advertisements now; else the first thing in the way. */
export function probeInterface(name: string, read: ReadKernelFile = readKernelFile): InterfaceProblem | null {
  const sysctl = (key: string) => read(`/proc/sys/net/ipv6/conf/${name}/${key}`)?.trim() ?? null;
  if (read('/proc/sys/net/ipv6/conf/all/disable_ipv6') === null) {
    return {
      reason: 'no-ipv6-kernel',
      severity: 'error',
      message: 'this kernel has no IPv6 (booted with ipv6.disable=1?), so no router advertisement can be sent: remove ipv6.disable=1 from the kernel command line, or set ra = false',
    };
  }
  const disabled = sysctl('disable_ipv6');
  if (disabled === null) {
    return { reason: 'no-interface', severity: 'warn', message: `there is no interface ${name} (radvd starts advertising on it when it appears)` };
  }
  if (disabled === '1') {
    return {
      reason: 'ipv6-disabled',
      severity: 'error',
      message: `IPv6 is disabled on ${name} (net.ipv6.conf.${name}.disable_ipv6 = 1), so it has no link-local address to send router advertisements from: run sysctl -w net.ipv6.conf.${name}.disable_ipv6=0 and keep it in a file under /etc/sysctl.d/, or set ra = false`,
    };
  }
  const mine = parseIfInet6(read('/proc/net/if_inet6') ?? '').filter((e) => e.name === name && e.scope === SCOPE_LINK);
  const usable = mine.find((e) => !(e.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)));
  if (usable) return null;
  const failed = mine.find((e) => e.flags & IFA_F_DADFAILED);
  if (failed) {
    return {
      reason: 'dad-failed',
      severity: 'error',
      message: `duplicate address detection failed for ${name}'s link-local address ${failed.address}: another host on the LAN uses it (a cloned MAC address?)`,
    };
  }
  if (mine.length > 0) return { reason: 'tentative', severity: 'warn', message: `${name}'s link-local address is still in duplicate address detection` };
  if (sysctl('addr_gen_mode') === '1') {
    return {
      reason: 'no-link-local-generation',
      severity: 'error',
      message: `${name} makes no IPv6 link-local address (addr_gen_mode = 1, as NetworkManager or systemd-networkd set when told to): run ip link set ${name} addrgenmode eui64 and bring it down and up, or allow a link-local address in the network manager, or set ra = false`,
    };
  }
  return { reason: 'no-link-local', severity: 'warn', message: `${name} has no IPv6 link-local address yet (the interface is down or has no carrier)` };
}
