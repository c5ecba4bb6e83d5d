import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { StageEvent } from '../events.ts';
import { literalLookup } from '../literal-lookup.ts';
import type { Logger } from '../log.ts';
import { decodeDhcp, DecodeError, type DhcpPacket } from './codec.ts';
import { inSubnet, ipToInt, type Subnet } from './ipv4.ts';
import { OPT } from './options.ts';
import type { Arrival, Maybe, Outcome } from './responder.ts';

/**
 * The DHCP socket loop, kept thin: receive → decode → which LAN → respond (responder.ts) → send. It
 * never dies on input: a packet that fails to decode, or anything thrown while answering it, is
 * counted by reason and logged at most once per reason per minute — never once per packet.
 *
 * Sockets, and how each packet finds its LAN:
 * - Per interface, when it has one (lan/device-sockets.ts): `0.0.0.0:67` bound to that device. It
 *   hears only that LAN's broadcasts, and its replies to 255.255.255.255 leave by that device whatever
 *   the routing table says. A request on it without giaddr belongs to that LAN.
 * - Otherwise one shared `0.0.0.0:67` (Node cannot bind a device; it hears every interface's
 *   broadcasts and cannot tell them apart), allowed for one local LAN only, plus a socket on that
 *   LAN's own address and port 67 that its replies leave from: a broadcast sent from a socket bound to
 *   a local address leaves by that address's interface, again whatever the routing table says (Linux
 *   routes a limited broadcast by its source address). Sources outside the LAN's subnet are dropped
 *   as `other-network`.
 * - With device sockets and segments behind relay agents, a plain `0.0.0.0:67` too: agents unicast to
 *   the relay, on whatever interface routing brings them. It answers relayed requests only; a
 *   broadcast reaching it is another interface's (or a copy of a served one's) and is not answered.
 * - `<address>:4011` per LAN address: PXE boot server discovery (PXE 2.1 §2.2.5), unicast to us.
 * A relayed request (giaddr set) belongs to the LAN whose network holds giaddr, whichever socket it
 * came in on; one whose giaddr is none of ours, is one of the relay's own addresses, or that crossed
 * more than `maxHops` agents is dropped with its reason.
 *
 * A DHCP storm is mostly a receive-queue problem (FIELD-NOTES: 5,000 clients at once): the sockets ask
 * for a large receive buffer (capped by net.core.rmem_max) and the loop does no I/O of its own except
 * the reply and, in full mode, one write(2) of the lease journal.
 */
export interface ServerLan {
  name: string;
  /** The local interface; null for a segment behind a relay agent. */
  interface: string | null;
  relayed: boolean;
  /** The relay's address for this LAN (4011 binds it). */
  serverIp: string;
  subnet: Subnet;
  /** A plain outcome when no I/O was needed: the reply then leaves in the same turn as the request came in. */
  respond(req: DhcpPacket, arrival: Arrival): Maybe<Outcome>;
}

export interface DhcpServerOptions {
  port: number;
  /** null: no 4011 sockets. */
  proxyPort: number | null;
  lans: ServerLan[];
  /** Interface → fd of a UDP socket bound to it and to 0.0.0.0:port (lan/device-sockets.ts). */
  deviceFds?: ReadonlyMap<string, number>;
  /** Where the shared socket binds (default 0.0.0.0; tests may pin an address). */
  bindAddress?: string;
  /** Relayed requests that crossed more agents are dropped (RFC 1542 §4.1.1 suggests a configurable limit). */
  maxHops?: number;
  onEvent?: (e: StageEvent) => void;
  log?: Logger;
  recvBufferBytes?: number;
}

export interface DhcpStats {
  received: number;
  /** Replies sent, by DHCP message type name. */
  sent: Record<string, number>;
  /** Requests deliberately not answered, by reason (responder.ts IgnoreReason). */
  ignored: Record<string, number>;
  /** Packets dropped as unusable (malformed, wrong network, forged agent fields, failures), by reason. */
  drops: Record<string, number>;
  /** Packets received per LAN (by name), answered or not. */
  perLan: Record<string, number>;
  /** Why packets were unreadable (codec.ts DecodeError reason), for those counted as `malformed` drops. */
  malformed: Record<string, number>;
  /** Options dropped from packets that were still answered, by fault (codec.ts FaultReason). */
  optionFaults: Record<string, number>;
}

export interface DhcpServer {
  /** `recvBufferBytes`: what the kernel granted the first port-67 socket (capped by net.core.rmem_max). */
  listen(): Promise<{ port: number; proxyPort: number | null; recvBufferBytes: number; deviceBound: string[] }>;
  close(): Promise<void>;
  stats(): DhcpStats;
  /** Whether a LAN's interface is present (the interface watch sets it; replies are not sent while it is gone). */
  setPresent(lan: string, present: boolean): void;
}

const TYPE_NAMES: Record<number, string> = { 2: 'offer', 5: 'ack', 6: 'nak' };
const ZERO = '0.0.0.0';

/** What a socket is for: where its packets go when they carry no giaddr. */
type SocketRole = { kind: 'device'; lan: ServerLan } | { kind: 'shared'; lan: ServerLan | null } | { kind: 'proxy'; address: string };

export function createDhcpServer(o: DhcpServerOptions): DhcpServer {
  const log = o.log?.child('dhcp');
  const maxHops = o.maxHops ?? 4;
  const stats: DhcpStats = { received: 0, sent: {}, ignored: {}, drops: {}, perLan: {}, malformed: {}, optionFaults: {} };
  /** Events of this turn, handed to the sink after the turn's replies were sent. */
  let pending: StageEvent[] = [];
  const sockets: Socket[] = [];
  const absent = new Set<string>();
  const ownAddresses = new Set(o.lans.map((l) => l.serverIp));
  const local = o.lans.filter((l) => !l.relayed);
  // Relayed segments first: an agent's giaddr is matched against them before the local LANs.
  const byGiaddr = [...o.lans.filter((l) => l.relayed), ...local];
  /** The sockets replies leave from, per LAN: its device socket, else its address-bound sender. */
  const senders = new Map<ServerLan, Socket>();

  const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
  const drop = (reason: string, from: RemoteInfo, err?: unknown, note?: string) => {
    bump(stats.drops, reason);
    // The fields are built only for the line that is printed, not for each suppressed packet of a flood.
    log?.once(reason, 'dhcp packet dropped', () => ({ reason, from: `${from.address}:${from.port}`, ...(note ? { note } : {}), ...(err instanceof Error ? { error: err.message } : {}) }));
  };

  const flushEvents = () => {
    const batch = pending;
    pending = [];
    for (const e of batch) {
      try {
        o.onEvent!(e);
      } catch (err) {
        log?.once('event-sink', 'the event sink threw: event dropped', { err });
      }
    }
  };
  /**
   * Delivered after this turn's replies (setImmediate), never ahead of them. Every answered exchange's
   * event: retransmissions and repeats are folded by the sink the relay gives (sync/event-fold.ts).
   */
  const emit = (e: StageEvent) => {
    if (o.onEvent && pending.push(e) === 1) setImmediate(flushEvents);
  };

  const answer = (out: Outcome, lan: ServerLan, socket: Socket, from: RemoteInfo) => {
    if (!out.answer) {
      bump(stats.ignored, out.reason);
      if (out.reason === 'pool-exhausted' || out.reason === 'declined') log?.once(out.reason, out.reason === 'declined' ? 'a client declined its address' : 'the address pool is exhausted', { lan: lan.name, note: out.note });
      if (out.event) emit(out.event);
      return;
    }
    const { bytes, to, packet } = out.answer;
    const type = packet.options[0]!.data[0]!;
    // Broadcasts leave by the LAN's own socket (its device); unicasts by the socket that heard the request.
    const via = to.address === '255.255.255.255' ? (senders.get(lan) ?? socket) : socket;
    via.send(bytes, to.port, to.address, (err) => {
      if (err) return drop('send-failed', from, err, lan.name);
      bump(stats.sent, TYPE_NAMES[type] ?? String(type));
    });
    if (out.event) emit(out.event);
  };

  let lastGiaddr = '';
  let lastGiaddrLan: ServerLan | undefined;
  /** The LAN a request belongs to, or the reason it belongs to none (a drop reason). */
  const lanOf = (req: DhcpPacket, role: SocketRole, from: RemoteInfo): ServerLan | { drop: string; note?: string } => {
    if (req.giaddr !== ZERO) {
      if (ownAddresses.has(req.giaddr)) return { drop: 'agent-forged', note: `giaddr ${req.giaddr} is the relay's own address` };
      if (req.hops > maxHops) return { drop: 'agent-hops', note: `${req.hops} hops (max ${maxHops})` };
      // An agent sends every request of its segment with one giaddr: the last answer is the next one's.
      if (req.giaddr !== lastGiaddr) {
        const g = ipToInt(req.giaddr);
        lastGiaddrLan = byGiaddr.find((l) => inSubnet(g, l.subnet));
        lastGiaddr = req.giaddr;
      }
      return lastGiaddrLan ?? { drop: 'agent-unknown', note: `giaddr ${req.giaddr} is in none of the relay's LANs` };
    }
    // A relay agent's option 82 on a request that no agent relayed: a client wrote it (RFC 3046 §2.1).
    for (const x of req.options) if (x.code === OPT.relayAgentInfo) return { drop: 'agent-option-unrelayed', note: 'option 82 without giaddr' };
    const source = from.address === ZERO ? null : ipToInt(from.address);
    switch (role.kind) {
      case 'device':
        return role.lan;
      case 'shared':
        if (!role.lan) return { drop: 'unserved-interface', note: 'a broadcast on the socket for relay agents (another interface\'s, or a copy of one a served interface hears)' };
        if (source !== null && !inSubnet(source, role.lan.subnet)) return { drop: 'other-network', note: `from ${from.address}, outside ${role.lan.name}` };
        return role.lan;
      case 'proxy': {
        // 4011 is unicast from a client that has an address: its network says the LAN; else the address it was sent to.
        const bySource = source === null ? undefined : local.find((l) => inSubnet(source, l.subnet));
        return bySource ?? o.lans.find((l) => l.serverIp === role.address) ?? { drop: 'other-network' };
      }
    }
  };

  const onMessage = (socket: Socket, role: SocketRole) => (msg: Buffer, from: RemoteInfo) => {
    stats.received++;
    let req;
    try {
      req = decodeDhcp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    } catch (err) {
      if (err instanceof DecodeError) bump(stats.malformed, err.reason);
      return drop(err instanceof DecodeError ? 'malformed' : 'decode-failed', from, err);
    }
    // Liberal in what it accepts: a fault in an option costs that option (codec.ts), counted here.
    if (req.faults) for (const f of req.faults) bump(stats.optionFaults, f.reason);
    const lan = lanOf(req, role, from);
    if ('drop' in lan) return drop(lan.drop, from, undefined, lan.note);
    bump(stats.perLan, lan.name);
    if (absent.has(lan.name)) return drop('interface-gone', from, undefined, lan.name);
    let out;
    try {
      out = lan.respond(req, { port: role.kind === 'proxy' ? 'proxy' : 'dhcp', from: { address: from.address, port: from.port } });
      if (!(out instanceof Promise)) return answer(out, lan, socket, from);
    } catch (err) {
      return drop('respond-failed', from, err);
    }
    out.then(
      (o) => answer(o, lan, socket, from),
      (err: unknown) => drop('respond-failed', from, err),
    );
  };

  const open = (where: { address: string; port: number } | { fd: number }, role: SocketRole, reuseAddr: boolean) =>
    new Promise<Socket>((resolve, reject) => {
      const s = createSocket({ type: 'udp4', lookup: literalLookup, reuseAddr, ...(o.recvBufferBytes ? { recvBufferSize: o.recvBufferBytes } : {}) });
      s.once('error', reject);
      s.on('message', onMessage(s, role));
      const bound = () => {
        s.off('error', reject);
        // After bind an error (e.g. EACCES on a send) must not end the process: count it, keep serving.
        s.on('error', (err) => log?.once(`socket-${role.kind}`, 'dhcp socket error', { err }));
        s.setBroadcast(true);
        if ('fd' in where && o.recvBufferBytes) s.setRecvBufferSize(o.recvBufferBytes);
        sockets.push(s);
        resolve(s);
      };
      if ('fd' in where) s.bind({ fd: where.fd }, bound);
      else s.bind(where.port, where.address, bound);
    });

  return {
    async listen() {
      try {
        const device = o.deviceFds ?? new Map<string, number>();
        const deviceBound: string[] = [];
        const unbound = local.filter((l) => !l.interface || !device.has(l.interface));
        if (unbound.length > 1) throw new Error(`${unbound.map((l) => l.name).join(' and ')} need sockets bound to their interfaces (lan/device-sockets.ts): one shared socket cannot tell their broadcasts apart`);
        let first: Socket | null = null;
        for (const lan of local) {
          const fd = lan.interface ? device.get(lan.interface) : undefined;
          if (fd === undefined) continue;
          const s = await open({ fd }, { kind: 'device', lan }, false);
          senders.set(lan, s);
          deviceBound.push(lan.name);
          first ??= s;
        }
        const shared = unbound[0] ?? null;
        if (shared || o.lans.some((l) => l.relayed) || local.length === 0) {
          const s = await open({ address: o.bindAddress ?? ZERO, port: o.port }, { kind: 'shared', lan: shared }, true);
          first ??= s;
          // The shared LAN's replies leave from its own address (see above); unicast to it lands here too.
          if (shared && (o.bindAddress ?? ZERO) === ZERO) senders.set(shared, await open({ address: shared.serverIp, port: first.address().port }, { kind: 'shared', lan: shared }, true));
        }
        let proxyPort: number | null = null;
        if (o.proxyPort !== null) {
          for (const address of new Set(o.lans.map((l) => l.serverIp))) {
            const s = await open({ address, port: o.proxyPort }, { kind: 'proxy', address }, false);
            proxyPort ??= s.address().port;
          }
        }
        // Linux reports twice the size asked (its bookkeeping overhead); that is what holds a storm.
        return { port: first!.address().port, proxyPort, recvBufferBytes: first!.getRecvBufferSize(), deviceBound };
      } catch (err) {
        await Promise.all(sockets.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
        throw err;
      }
    },
    async close() {
      if (pending.length) flushEvents();
      await Promise.all(sockets.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
    stats: () => stats,
    setPresent(lan, present) {
      if (present) absent.delete(lan);
      else absent.add(lan);
    },
  };
}
