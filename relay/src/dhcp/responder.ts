import type { StageEvent } from '../events.ts';
import type { BootTarget, TargetResult } from './boot-target.ts';
import { classify, type Classification } from './classify.ts';
import type { DhcpPacket } from './codec.ts';
import { inSubnet, ipToInt, type Subnet } from './ipv4.ts';
import type { LeaseTable } from './leases.ts';
import { MESSAGE_TYPES } from './options.ts';
import { chaddrMac, messageType, requestedAddress, serverId } from './read.ts';
import { fullReply, informAck, nak, proxyAck, proxyOffer, type Destination, type LeaseOffer, type PxeClient, type Reply, type ReplyContext } from './reply.ts';

/**
 * What to answer one decoded request, without sockets: the decisions of both modes in one place,
 * so the socket loop (server.ts) stays receive → decode → respond → send.
 *
 * Proxy mode (beside the site router's DHCP server):
 *   - port 67, DISCOVER from a PXE/HTTP-boot/iPXE client the snapshot says to netboot → proxy OFFER;
 *   - port 4011, REQUEST (or INFORM) from such a client → ACK with the boot file (PXE 2.1 §2.2.5);
 *   - nothing else, ever: no addresses, and no REQUEST on port 67 (those belong to the router).
 * Full mode (an isolated provisioning network): RFC 2131 for every client — addresses for all, boot
 * instructions only for PXE clients the snapshot says to netboot — plus the 4011 ACK above for
 * firmware that asks there anyway.
 *
 * `target(client, ip)` is the composition root's decision (snapshot, nonce, direct signing). When it
 * answers at once, so does the responder: a DISCOVER becomes an OFFER with no promise, no microtask and
 * nothing else queued between the socket and the reply (issue 18); only direct signing returns a promise.
 */
export type Arrival = { port: 'dhcp' | 'proxy'; from: Destination };

/**
 * `reason` is a short fixed code (a metrics label: never a value taken from the packet); `note` says
 * the particulars, for a log line or an event.
 */
export type Outcome =
  | { answer: Reply; event?: StageEvent; note?: string }
  | { answer: null; reason: IgnoreReason; event?: StageEvent; note?: string };

export type IgnoreReason =
  | 'not-request'
  | 'bootp'
  | 'router-request'
  | 'unexpected-type'
  | 'not-pxe'
  | 'no-boot'
  | 'other-subnet'
  | 'not-ethernet'
  | 'pool-exhausted'
  | 'other-server'
  | 'no-address'
  | 'declined'
  | 'released'
  | 'unknown-lease';

export interface FullModeConfig {
  table: LeaseTable;
  /** The served subnet: local clients and relay agents' giaddr must be inside it. */
  subnet: Subnet;
  leaseSeconds: number;
  subnetMask: string;
  routers: string[];
  dnsServers: string[];
  domainName?: string;
}

export interface ResponderOptions {
  mode: 'proxy' | 'dhcp';
  reply: ReplyContext;
  /** A plain result when the decision needs no I/O (the common case): the whole answer is then built synchronously. */
  target(c: PxeClient, ip: string | null): TargetResult | Promise<TargetResult>;
  full?: FullModeConfig;
  /** Proxy mode: told which address a client has whenever a packet says so (TFTP maps addresses to MACs with it; full mode asks its lease table). */
  learn?(mac: string, ip: string): void;
}

const ZERO = '0.0.0.0';

/** A value now, or later when it needs I/O. */
export type Maybe<T> = T | Promise<T>;
/** `f(v)` at once for a plain value; a promise only when `v` is one (no microtask per packet otherwise). */
function then<T, U>(v: Maybe<T>, f: (t: T) => Maybe<U>): Maybe<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

type Boot = { target: BootTarget; reason?: undefined } | { target: null; reason: string };

/**
 * Answers a request: synchronously when the boot decision needs no I/O (every proxy OFFER from the
 * snapshot), a promise only when the composition root's `target` returns one (direct signing).
 */
export function createResponder(o: ResponderOptions): (req: DhcpPacket, arrival: Arrival) => Maybe<Outcome> {
  if (o.mode === 'dhcp' && !o.full) throw new Error('full DHCP mode needs a pool');
  const ignore = (reason: IgnoreReason, note?: string, event?: StageEvent): Outcome => ({ answer: null, reason, ...(note ? { note } : {}), ...(event ? { event } : {}) });

  /** Boot target for a PXE client, or null with the reason the client gets no boot answer. */
  function bootFor(c: Classification, ip: string | null): Maybe<Boot> {
    if (!c.pxe) return { target: null, reason: c.reason };
    return then(o.target(c, ip), (t): Boot => (t.ok ? { target: t.target } : { target: null, reason: t.reason }));
  }
  const skipped = (c: PxeClient, reason: string): StageEvent => ({ mac: c.mac, stage: 'dhcp-discover', detail: { answered: false, reason: reason.slice(0, 200), arch: c.arch.arch } });

  function proxy(req: DhcpPacket, type: number | undefined, arrival: Arrival): Maybe<Outcome> {
    const onProxyPort = arrival.port === 'proxy';
    if (!onProxyPort && type === MESSAGE_TYPES.REQUEST) {
      // The client's REQUEST to the site router names the address it is taking: remember it, and for
      // a PXE client report it (firmware told to use the offer's boot file never comes to 4011, so
      // this is the timeline's evidence that DHCP completed).
      const mac = chaddrMac(req);
      const address = requestedAddress(req) ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
      if (!mac || !address) return ignore('router-request');
      o.learn?.(mac, address);
      const c = classify(req);
      const router = serverId(req);
      return ignore('router-request', undefined, c.pxe ? { mac, stage: 'dhcp-request', detail: { ip: address, kind: c.kind, ...(router ? { server: router } : {}) } } : undefined);
    }
    if (!onProxyPort && type !== MESSAGE_TYPES.DISCOVER) return ignore('unexpected-type', `message type ${type} on port 67`);
    if (onProxyPort && type !== MESSAGE_TYPES.REQUEST && type !== MESSAGE_TYPES.INFORM) return ignore('unexpected-type', `message type ${type} on port 4011`);
    const c = classify(req);
    if (!c.pxe) return ignore('not-pxe', c.reason);
    if (req.ciaddr !== ZERO) o.learn?.(c.mac, req.ciaddr);
    return then(bootFor(c, req.ciaddr === ZERO ? null : req.ciaddr), (b): Outcome => {
      if (!b.target) return ignore('no-boot', b.reason, skipped(c, b.reason));
      const target = b.target;
      if (onProxyPort) {
        const answer = proxyAck(req, c, target, o.reply, arrival.from);
        return { answer, event: { mac: c.mac, stage: 'dhcp-ack', detail: { proxy: true, kind: c.kind, arch: c.arch.arch, boot: describe(target) } } };
      }
      const answer = proxyOffer(req, c, target, o.reply);
      return { answer, event: { mac: c.mac, stage: 'proxy-offer', detail: { kind: c.kind, arch: c.arch.arch, boot: describe(target) } } };
    });
  }

  function full(req: DhcpPacket, type: number | undefined, arrival: Arrival, f: FullModeConfig): Maybe<Outcome> {
    if (arrival.port === 'proxy') return proxy(req, type, arrival);
    if (req.giaddr !== ZERO && !inSubnet(ipToInt(req.giaddr), f.subnet)) return ignore('other-subnet', `relayed from ${req.giaddr}, outside the served subnet`);
    const c = classify(req);
    const mac = c.pxe ? c.mac : chaddrMac(req);
    if (mac === null) return ignore('not-ethernet', `hardware type ${req.htype}/${req.hlen}`);
    const lease = (address: string): LeaseOffer => ({ address, leaseSeconds: f.leaseSeconds, subnetMask: f.subnetMask, routers: f.routers, dnsServers: f.dnsServers, ...(f.domainName ? { domainName: f.domainName } : {}) });

    switch (type) {
      case MESSAGE_TYPES.DISCOVER: {
        const requested = requestedAddress(req);
        const ip = f.table.offer(mac, requested && f.table.owns(requested) ? requested : undefined);
        if (ip === null) return ignore('pool-exhausted', `no free address for ${mac}`);
        return then(bootFor(c, ip), ({ target, reason }): Outcome => {
          const answer = fullReply('offer', req, lease(ip), c, target, o.reply);
          return { answer, ...(c.pxe ? { event: { mac, stage: 'dhcp-offer', detail: { ip, boot: target ? describe(target) : `none: ${reason}`.slice(0, 200) } } } : {}) };
        });
      }
      case MESSAGE_TYPES.REQUEST: {
        const sid = serverId(req);
        if (sid !== undefined && sid !== o.reply.serverIp) {
          f.table.cancelOffer(mac);
          return ignore('other-server');
        }
        const address = requestedAddress(req) ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
        if (address === undefined) return ignore('no-address', 'REQUEST with neither option 50 nor ciaddr');
        const inSubnetHere = inSubnet(ipToInt(address), f.subnet);
        // RFC 2131 §4.3.2: a client rebooting or renewing (no server id) with an address of this network
        // that is outside this relay's range is another server's (a sibling relay's split pool): with no
        // record of it, stay silent rather than NAK it off the address the other server gave it.
        if (sid === undefined && inSubnetHere && !f.table.owns(address)) return ignore('other-server', `${address} is outside this relay's range: left to the server that leased it`);
        const bound = inSubnetHere ? f.table.request(mac, address, f.leaseSeconds * 1000) : { ok: false as const, reason: `${address} is not on this network` };
        if (!bound.ok) return { answer: nak(req, o.reply, bound.reason), note: bound.reason };
        return then(bootFor(c, address), ({ target, reason }): Outcome => {
          const answer = fullReply('ack', req, lease(address), c, target, o.reply);
          return { answer, ...(c.pxe ? { event: { mac, stage: 'dhcp-ack', detail: { ip: address, boot: target ? describe(target) : `none: ${reason}`.slice(0, 200) } } } : {}) };
        });
      }
      case MESSAGE_TYPES.DECLINE: {
        const address = requestedAddress(req);
        if (address && f.table.owns(address) && f.table.decline(mac, address)) return ignore('declined', `${address} declined by ${mac}: in use on the network`);
        return ignore('unknown-lease', 'DECLINE of an address this client does not hold');
      }
      case MESSAGE_TYPES.RELEASE:
        if (req.ciaddr !== ZERO && f.table.owns(req.ciaddr) && f.table.release(mac, req.ciaddr)) return ignore('released');
        return ignore('unknown-lease', 'RELEASE of an address this client does not hold');
      case MESSAGE_TYPES.INFORM: {
        if (req.ciaddr === ZERO) return ignore('no-address', 'INFORM without ciaddr');
        const ciaddr = req.ciaddr;
        return then(bootFor(c, ciaddr), ({ target }): Outcome => ({ answer: informAck(req, { subnetMask: f.subnetMask, routers: f.routers, dnsServers: f.dnsServers, ...(f.domainName ? { domainName: f.domainName } : {}) }, c, target, o.reply) }));
      }
      default:
        return ignore('unexpected-type', `message type ${type}`);
    }
  }

  return (req, arrival) => {
    if (req.op !== 1) return ignore('not-request');
    const type = messageType(req);
    if (type === undefined) return ignore('bootp', 'no message type: BOOTP is not served');
    return o.mode === 'proxy' ? proxy(req, type, arrival) : full(req, type, arrival, o.full!);
  };
}

/** The boot instruction in an event's detail: a file name, or a URL without its nonce. */
function describe(t: { kind: string; file?: string; url?: string }): string {
  if (t.kind === 'tftp') return `tftp:${t.file}`.slice(0, 200);
  const url = t.url ?? '';
  // Only a URL with a query can carry a secret: the regexes run for those alone.
  return `${t.kind}:${url.includes('?') ? url.replace(/([?&]nonce=)[^&]*/, '$1…').replace(/([?&]sig=)[^&]*/, '$1…') : url}`.slice(0, 200);
}
