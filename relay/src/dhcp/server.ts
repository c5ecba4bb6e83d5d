import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { StageEvent } from '../events.ts';
import { literalLookup } from '../literal-lookup.ts';
import type { Logger } from '../log.ts';
import { decodeDhcp, DecodeError } from './codec.ts';
import { inSubnet, ipToInt, type Subnet } from './ipv4.ts';
import type { Arrival, Outcome } from './responder.ts';

/**
 * The DHCP socket loop, kept thin: receive → decode → respond (responder.ts) → send. It never dies
 * on input: a packet that fails to decode, or anything thrown while answering it, is counted by
 * reason and logged at most once per reason per minute — never once per packet.
 *
 * Two sockets:
 * - `0.0.0.0:67`: the only way Node receives the broadcast DISCOVERs of clients that have no address
 *   yet (a socket bound to the interface's own address gets none, and Node has no SO_BINDTODEVICE nor
 *   IP_PKTINFO). It therefore sees every interface: requests whose source address is outside the
 *   served subnet (and not relayed) are dropped as `other-network`; broadcasts from address-less
 *   clients cannot be told apart by interface, which is why the README asks for one served LAN.
 * - `<server address>:4011`: PXE boot server discovery (PXE 2.1 §2.2.5), unicast to us.
 *
 * A DHCP storm is mostly a receive-queue problem (FIELD-NOTES: 5,000 clients at once): the socket asks
 * for a large receive buffer (capped by net.core.rmem_max) and the loop does no I/O of its own except
 * the reply and, in full mode, one write(2) of the lease journal.
 */
export interface DhcpServerOptions {
  /** Default 0.0.0.0 (see above). */
  bindAddress?: string;
  port: number;
  /** The relay's own address on the served LAN: the 4011 socket binds it. */
  serverIp: string;
  /** null: no 4011 socket. */
  proxyPort: number | null;
  /** The served LAN: sources outside it (when not relayed) are another interface's traffic. */
  subnet: Subnet;
  respond(req: ReturnType<typeof decodeDhcp>, arrival: Arrival): Promise<Outcome>;
  onEvent?: (e: StageEvent) => void;
  log?: Logger;
  recvBufferBytes?: number;
  /** Milliseconds clock for the per-MAC event de-duplication (tests). */
  now?: () => number;
}

export interface DhcpStats {
  received: number;
  /** Replies sent, by DHCP message type name. */
  sent: Record<string, number>;
  /** Requests deliberately not answered, by reason (responder.ts IgnoreReason). */
  ignored: Record<string, number>;
  /** Packets dropped as unusable (malformed, wrong network, failures), by reason. */
  drops: Record<string, number>;
}

export interface DhcpServer {
  /** `recvBufferBytes`: what the kernel granted the port-67 socket (capped by net.core.rmem_max). */
  listen(): Promise<{ port: number; proxyPort: number | null; recvBufferBytes: number }>;
  close(): Promise<void>;
  stats(): DhcpStats;
}

const TYPE_NAMES: Record<number, string> = { 2: 'offer', 5: 'ack', 6: 'nak' };
/** The same (MAC, stage) within this window is one event: firmware retransmits, the timeline should not. */
const EVENT_DEDUP_MS = 2_000;
const EVENT_DEDUP_MAX = 4_096;

export function createDhcpServer(o: DhcpServerOptions): DhcpServer {
  const log = o.log?.child('dhcp');
  const now = o.now ?? Date.now;
  const stats: DhcpStats = { received: 0, sent: {}, ignored: {}, drops: {} };
  const recent = new Map<string, number>();
  const sockets: Socket[] = [];

  const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
  const drop = (reason: string, from: RemoteInfo, err?: unknown) => {
    bump(stats.drops, reason);
    log?.once(reason, 'dhcp packet dropped', { from: `${from.address}:${from.port}`, ...(err instanceof Error ? { error: err.message } : {}) });
  };

  const emit = (e: StageEvent) => {
    if (!o.onEvent) return;
    const key = `${e.mac}|${e.stage}`;
    const t = now();
    const last = recent.get(key);
    if (last !== undefined && t - last < EVENT_DEDUP_MS) return;
    if (recent.size >= EVENT_DEDUP_MAX) recent.clear();
    recent.set(key, t);
    o.onEvent(e);
  };

  const onMessage = (socket: Socket, port: Arrival['port']) => (msg: Buffer, from: RemoteInfo) => {
    stats.received++;
    let req;
    try {
      req = decodeDhcp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    } catch (err) {
      return drop(err instanceof DecodeError ? 'malformed' : 'decode-failed', from, err);
    }
    if (req.giaddr === '0.0.0.0' && from.address !== '0.0.0.0' && !inSubnet(ipToInt(from.address), o.subnet)) return drop('other-network', from);
    o.respond(req, { port, from: { address: from.address, port: from.port } }).then(
      (out) => {
        if (out.event) emit(out.event);
        if (!out.answer) {
          bump(stats.ignored, out.reason);
          if (out.reason === 'pool-exhausted' || out.reason === 'declined') log?.once(out.reason, out.reason === 'declined' ? 'a client declined its address' : 'the address pool is exhausted', { note: out.note });
          return;
        }
        const { bytes, to, packet } = out.answer;
        const type = packet.options[0]!.data[0]!;
        socket.send(bytes, to.port, to.address, (err) => {
          if (err) return drop('send-failed', from, err);
          bump(stats.sent, TYPE_NAMES[type] ?? String(type));
        });
      },
      (err: unknown) => drop('respond-failed', from, err),
    );
  };

  const open = (address: string, port: number, kind: Arrival['port']) =>
    new Promise<Socket>((resolve, reject) => {
      const s = createSocket({ type: 'udp4', lookup: literalLookup, ...(o.recvBufferBytes ? { recvBufferSize: o.recvBufferBytes } : {}) });
      s.once('error', reject);
      s.on('message', onMessage(s, kind));
      s.bind(port, address, () => {
        s.off('error', reject);
        // After bind an error (e.g. EACCES on a send) must not end the process: count it, keep serving.
        s.on('error', (err) => log?.once(`socket-${kind}`, 'dhcp socket error', { err }));
        s.setBroadcast(true);
        sockets.push(s);
        resolve(s);
      });
    });

  return {
    async listen() {
      const main = await open(o.bindAddress ?? '0.0.0.0', o.port, 'dhcp');
      const proxy = o.proxyPort === null ? null : await open(o.serverIp, o.proxyPort, 'proxy').catch(async (err: unknown) => {
        main.close();
        throw err;
      });
      // Linux reports twice the size asked (its bookkeeping overhead); that is what holds a storm.
      return { port: main.address().port, proxyPort: proxy ? proxy.address().port : null, recvBufferBytes: main.getRecvBufferSize() };
    },
    async close() {
      await Promise.all(sockets.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
    stats: () => stats,
  };
}
