/**
 * Which relays of one site would hand out the same addresses (issue 14, "two relays per site").
 *
 * Two relays on one LAN share nothing but the wire: in DHCP (full) mode each one owns a **split
 * pool**, its configured `range`, and the ranges of relays serving the same subnet must not overlap.
 * No lease state is exchanged between them, so the cloud is the only place that sees both
 * configurations: it compares what each relay last reported in its heartbeat (`Heartbeat.lans`).
 *
 * What is a conflict, pair by pair of LANs whose subnets overlap (subnets are compared by number:
 * the cloud cannot tell two separate wires numbered alike from one wire, so it reports both):
 * - both `dhcp`, ranges overlapping: two servers may lease one address to two machines;
 * - both `dhcp`, ranges disjoint but subnets of different sizes: the two servers would give their
 *   clients different masks and broadcast addresses for one wire;
 * - both `dhcp`, ranges disjoint, same subnet: **no conflict** — that is the split-pool design.
 * - one `dhcp`, one `proxy`: **no conflict**. A proxyDHCP server beside a DHCP server is the
 *   topology proxy mode exists for (RFC 4578/PXE 2.1: the proxy never offers an address, and on
 *   port 67 it only listens to REQUESTs). Both relays take their boot answers from the same site
 *   snapshot, so whichever offer the firmware follows boots the machine the same way.
 * - both `proxy`: no conflict (the firmware takes one offer; both say the same).
 * A `dhcp` LAN reported without a range is taken as the whole subnet (it cannot be shown disjoint).
 * Pure and Web-standard: runs in workerd, Deno and Node.
 */
import { intToIp, ipToInt, parseCidr, type Subnet } from './ipv4.ts';
import type { RelayLan } from './schemas/access.ts';

export interface RelayLans {
  id: string;
  name: string;
  /** What the relay last reported; null: never reported (an older relay), nothing to compare. */
  lans: RelayLan[] | null;
}

export interface RelayConflict {
  /** The other relay. */
  relayId: string;
  relayName: string;
  /** This relay's subnet, as it reported it. */
  subnet: string;
  reason: string;
}

/** `10.0.0.0/24` with host bits zero → first and last address of the block; null when malformed. */
export function cidrBounds(cidr: string): { first: number; last: number; prefix: number } | null {
  let s: Subnet;
  try {
    s = parseCidr(cidr);
  } catch {
    return null;
  }
  return { first: s.network, last: (s.network | ~s.mask) >>> 0, prefix: s.prefix };
}

const overlaps = (a: { first: number; last: number }, b: { first: number; last: number }) => a.first <= b.last && b.first <= a.last;
const dash = (r: { first: number; last: number }) => `${intToIp(r.first)}–${intToIp(r.last)}`;

/** The addresses a LAN's server may lease: its range, or (none reported) the whole subnet. */
function pool(lan: RelayLan, subnet: { first: number; last: number }): { first: number; last: number } {
  return lan.range ? { first: ipToInt(lan.range[0]), last: ipToInt(lan.range[1]) } : subnet;
}

/** Why `a` (this relay's LAN) and `b` (a sibling's) cannot both serve as reported; null: they can. */
export function lanConflict(a: RelayLan, b: RelayLan): string | null {
  const sa = cidrBounds(a.subnet);
  const sb = cidrBounds(b.subnet);
  if (!sa || !sb || !overlaps(sa, sb)) return null;
  if (a.mode !== 'dhcp' || b.mode !== 'dhcp') return null;
  const pa = pool(a, sa);
  const pb = pool(b, sb);
  if (overlaps(pa, pb)) return `ranges overlap: ${dash(pa)} and ${dash(pb)}`;
  if (sa.prefix !== sb.prefix) return `both lease on one network with different subnets: ${a.subnet} and ${b.subnet}`;
  return null;
}

/**
 * Every conflict of every relay given (the site's non-revoked relays), keyed by relay id; a relay
 * with none maps to []. Ordered by the other relay's name, then id, then subnet, so pages and
 * tests see a stable list.
 */
export function relayConflicts(relays: RelayLans[]): Map<string, RelayConflict[]> {
  const out = new Map<string, RelayConflict[]>(relays.map((r) => [r.id, []]));
  for (const r of relays) {
    for (const other of relays) {
      if (other.id === r.id) continue;
      for (const a of r.lans ?? []) {
        for (const b of other.lans ?? []) {
          const reason = lanConflict(a, b);
          if (reason) out.get(r.id)!.push({ relayId: other.id, relayName: other.name, subnet: a.subnet, reason });
        }
      }
    }
  }
  for (const list of out.values()) list.sort((x, y) => x.relayName.localeCompare(y.relayName) || x.relayId.localeCompare(y.relayId) || x.subnet.localeCompare(y.subnet) || x.reason.localeCompare(y.reason));
  return out;
}
