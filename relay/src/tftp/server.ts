import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { literalLookup } from '../literal-lookup.ts';
import type { Logger } from '../log.ts';
import { decodeTftp, encodeDataRun, encodeError, encodeOack, ERROR_CODE, requestOptions, type RequestPacket } from './codec.ts';
import type { Content, ContentProvider } from './content.ts';
import type { PumpCounts, PumpOutcome, TftpPump } from './pump.ts';
import { DEFAULT_LIMITS, negotiate, Transfer, type Negotiation, type TransferAction, type TransferEvent, type TransferLimits } from './transfer.ts';

/**
 * The TFTP socket loop, kept thin: decode → state machine (transfer.ts) → send. Read-only.
 *
 * - One listening socket takes requests; each accepted RRQ gets its own socket bound to the
 *   listening address and an ephemeral port (RFC 1350 §4: the server's TID), so replies leave from
 *   the address the client asked, not whichever one routing picks.
 * - Refusals (bad name, not found, WRQ, limits) are answered from the listening socket: binding a
 *   socket per refused request would let a flood of bad RRQs exhaust ports.
 * - A packet on a transfer socket from another address or port gets ERROR 5 and the transfer goes on.
 *   The transfer socket is *connected* to the client: the kernel then skips a route lookup per send,
 *   which measured ~40% faster per block on loopback. A connected socket no longer receives other
 *   senders, so a second, unconnected socket shares its port (SO_REUSEADDR; Linux delivers to the
 *   best match, the connected one for the client, this one for everybody else) and answers them.
 *   A connected socket also learns from ICMP that the client has gone, ending the transfer early.
 * - A repeated RRQ from the same client port while its transfer runs (a client retrying because our
 *   first answer was slow) is dropped, not answered with a second transfer.
 * - Nothing is logged per packet: drops are counted by reason (`stats()`, for /metrics) and logged at
 *   most once per reason per interval.
 * - Events: a transfer emits `tftp-start` with its first DATA, then `tftp-done` or `tftp-error`. A
 *   refused request or a size probe (UEFI's OACK-then-ERROR) emits nothing, so a flood of bad
 *   requests cannot flood the event queue. The server knows addresses, not MACs: `macFor` lets the
 *   composition root map one (DHCP knows which MAC it gave which address).
 */

const MALFORMED_REQUEST = encodeError(ERROR_CODE.ILLEGAL_OPERATION, 'Malformed request');
const FOREIGN_TID = encodeError(ERROR_CODE.UNKNOWN_TID, 'Unknown transfer ID');
/**
 * Payload bytes of DATA built ahead per transfer, in whole blocks, read from the content in one go.
 * One read per block (a `pread` and Node's readSync around it) sat between the ACK arriving and the
 * next DATA leaving, which at windowsize 1 is wall time. 16 KiB: at most 8 MiB across 512 transfers.
 */
export const RUN_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const START: TransferEvent = { type: 'start' };
const TIMEOUT: TransferEvent = { type: 'timeout' };
const FOREIGN: TransferEvent = { type: 'foreign' };
const UNEXPECTED: TransferEvent = { type: 'unexpected' };

export interface TftpEvent {
  mac?: string;
  /** The client's IP address. */
  client: string;
  stage: 'tftp-start' | 'tftp-done' | 'tftp-error';
  at: string;
  durationMs?: number;
  detail: Record<string, string | number>;
}

export interface TftpServerOptions {
  address: string;
  /** Default 69; 0 picks a free port (tests). */
  port?: number;
  content: ContentProvider;
  limits?: Partial<TransferLimits>;
  /** Concurrent transfers in all; beyond it a request is refused with ERROR 0, not queued. */
  maxTransfers?: number;
  /** Concurrent transfers per client address. */
  maxPerClient?: number;
  onEvent?: (e: TftpEvent) => void;
  macFor?: (address: string) => string | undefined;
  logger?: Logger;
  /** Milliseconds clock for durations (tests). */
  now?: () => number;
  /**
   * The native data path (pump.ts): when given and usable, every transfer whose content is in memory
   * or a file has its blocks sent by the pump; the server still decides, answers strays and reports.
   */
  pump?: TftpPump;
}

export interface TftpStats {
  transfersStarted: number;
  transfersCompleted: number;
  transfersAborted: number;
  /** Transfers the client ended after the OACK (size probes): neither completed nor failed. */
  sizeProbes: number;
  active: number;
  /** Payload bytes sent, retransmissions included. */
  bytesSent: number;
  /** Transfers whose blocks the native data path sent (pump.ts). */
  pumped: number;
  /** Requests answered with an ERROR, by reason. */
  refused: Record<string, number>;
  /** Packets ignored, by reason. */
  drops: Record<string, number>;
}

export interface TftpServer {
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  stats(): TftpStats;
}

interface Running {
  kind: 'node';
  key: string;
  client: RemoteInfo;
  file: string;
  transfer: Transfer;
  content: Content;
  socket: Socket;
  /** Same port, unconnected: receives only packets from other senders (foreign TIDs). */
  stray: Socket;
  timer: NodeJS.Timeout;
  /** DATA packets built ahead (`dataPacket`): the buffer they are built in, the packets, the
   * content offset of the first, how many. */
  runSpace: Buffer;
  run: Buffer;
  runAt: number;
  runCount: number;
  startedAt: number;
  dataSent: boolean;
  ended: boolean;
}

/** A transfer whose blocks the pump sends: what the server keeps of it. */
interface Pumped {
  kind: 'pump';
  key: string;
  client: RemoteInfo;
  file: string;
  content: Content;
  stray: Socket;
  id: number;
  startedAt: number;
  ended: boolean;
  /** Called once it has ended (close() waits for it). */
  settle?: () => void;
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    // already closed by an error
  }
}

export function createTftpServer(opts: TftpServerOptions): TftpServer {
  const limits: TransferLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const maxTransfers = opts.maxTransfers ?? 512;
  const maxPerClient = opts.maxPerClient ?? 8;
  const now = opts.now ?? Date.now;
  const log = opts.logger?.child('tftp');
  const stats: TftpStats = { transfersStarted: 0, transfersCompleted: 0, transfersAborted: 0, sizeProbes: 0, active: 0, bytesSent: 0, pumped: 0, refused: {}, drops: {} };
  const running = new Map<string, Running | Pumped>();
  const perClient = new Map<string, number>();
  let listener: Socket | undefined;

  /** `n` packets of one reason (the pump reports a transfer's drops in one go). */
  const drop = (reason: string, from?: RemoteInfo, err?: unknown, n = 1) => {
    stats.drops[reason] = (stats.drops[reason] ?? 0) + n;
    log?.once(reason, 'tftp packet dropped', { from: from ? `${from.address}:${from.port}` : undefined, error: err instanceof Error ? err.message : undefined });
  };

  const refuse = (to: RemoteInfo, reason: string, code: number, message: string) => {
    stats.refused[reason] = (stats.refused[reason] ?? 0) + 1;
    listener?.send(encodeError(code, message), to.port, to.address);
  };

  const emit = (r: Running | Pumped, stage: TftpEvent['stage'], detail: Record<string, string | number>, withDuration: boolean) => {
    if (!opts.onEvent) return;
    const mac = opts.macFor?.(r.client.address);
    const e: TftpEvent = { client: r.client.address, stage, at: new Date(now()).toISOString(), detail: { file: r.file, ...detail } };
    if (mac) e.mac = mac;
    if (withDuration) e.durationMs = Math.max(0, Math.round(now() - r.startedAt));
    try {
      opts.onEvent(e);
    } catch (err) {
      log?.once('event-sink', 'tftp event sink threw', { error: err instanceof Error ? err.message : String(err) });
    }
  };

  /** A started transfer counts against the limits until `end`. */
  const admit = (r: Running | Pumped) => {
    running.set(r.key, r);
    perClient.set(r.client.address, (perClient.get(r.client.address) ?? 0) + 1);
    stats.active = running.size;
    stats.transfersStarted++;
  };

  const end = (r: Running | Pumped) => {
    if (r.ended) return;
    r.ended = true;
    running.delete(r.key);
    const n = (perClient.get(r.client.address) ?? 1) - 1;
    if (n <= 0) perClient.delete(r.client.address);
    else perClient.set(r.client.address, n);
    stats.active = running.size;
    r.content.close();
    if (r.kind === 'pump') {
      r.settle?.();
      // A pumped transfer ends by a line from the pump, which may come in the same turn as foreign
      // packets its stray socket has queued (they were sent before the client's last ACK): answer
      // those first.
      setImmediate(closeQuietly, r.stray);
    } else {
      clearTimeout(r.timer);
      closeQuietly(r.socket);
      closeQuietly(r.stray);
    }
  };

  const act = (r: Running, actions: TransferAction[], from: RemoteInfo) => {
    let sent = false;
    for (const a of actions) {
      switch (a.type) {
        case 'send-oack':
          r.socket.send(encodeOack(a.options));
          sent = true;
          break;
        case 'send-data': {
          r.socket.send(dataPacket(r, a.block, a.offset, a.length));
          stats.bytesSent += a.length;
          sent = true;
          if (!r.dataSent) {
            r.dataSent = true;
            emit(r, 'tftp-start', { size: r.transfer.size, blksize: r.transfer.blksize, windowsize: r.transfer.windowsize }, false);
          }
          break;
        }
        case 'finish':
          stats.transfersCompleted++;
          emit(r, 'tftp-done', { bytes: r.transfer.size }, true);
          end(r);
          return;
        case 'abort':
          if (a.reason === 'size-probe') stats.sizeProbes++;
          else {
            stats.transfersAborted++;
            emit(r, 'tftp-error', { reason: a.reason, acked: r.transfer.progress.acked }, true);
          }
          if (a.error) sendThenEnd(r, encodeError(a.error.code, a.error.message));
          else end(r);
          return;
        case 'reject-foreign':
          drop('foreign-tid', from);
          r.stray.send(encodeError(a.code, a.message), from.port, from.address);
          break;
        case 'ignore':
          drop(a.reason, from);
          break;
      }
    }
    if (sent) r.timer.refresh();
  };

  /**
   * The DATA packet of the block at `offset`, as a view of the transfer's run of packets built
   * ahead: a run holds RUN_BYTES of payload in whole blocks (11 of 1468 bytes, 32 of 512), is built
   * when a block falls outside it (the next run, a rewind after a partial ACK, the final empty block).
   * The new run overwrites the old one's buffer only when the socket has no send queued: dgram sends
   * at once when it can (nothing then points into the buffer) and queues a send only when the kernel
   * says EAGAIN; then the run goes to a new buffer. One buffer per transfer rather than one per run:
   * peak RSS over bench:tftp's 200-client runs was 109 MB this way, 135 MB with a buffer per run
   * (103 MB with the header-plus-payload sends before runs).
   */
  const dataPacket = (r: Running, block: number, offset: number, length: number): Buffer => {
    const blksize = r.transfer.blksize;
    const i = (offset - r.runAt) / blksize;
    if (i >= 0 && i < r.runCount) {
      const at = i * (4 + blksize);
      return r.run.subarray(at, at + 4 + length);
    }
    const perRun = Math.max(1, Math.floor(RUN_BYTES / blksize));
    if (r.runSpace.length === 0 || r.socket.getSendQueueCount() > 0) r.runSpace = Buffer.allocUnsafeSlow(perRun * (4 + blksize));
    const bytes = Math.min(r.transfer.size - offset, perRun * blksize);
    r.run = encodeDataRun(block, blksize, r.content.read(offset, bytes), r.runSpace);
    r.runAt = offset;
    r.runCount = Math.max(1, Math.ceil(bytes / blksize));
    return r.run.subarray(0, 4 + length);
  };

  /**
   * Feeds one event to the transfer and runs its actions, turning any throw (a file that shrank, a
   * closed socket) into an aborted transfer. Called once per ACK: it takes the event, not a closure.
   */
  const safely = (r: Running, e: TransferEvent, from: RemoteInfo) => {
    try {
      act(r, r.transfer.handle(e), from);
    } catch (err) {
      if (r.ended) return;
      stats.transfersAborted++;
      log?.once('transfer-failed', 'tftp transfer failed', { file: r.file, error: err instanceof Error ? err.message : String(err) });
      emit(r, 'tftp-error', { reason: 'internal' }, true);
      sendThenEnd(r, encodeError(ERROR_CODE.UNDEFINED, 'Transfer failed'));
    }
  };

  /** A last packet to the client (an ERROR), closing the socket once it has left. */
  const sendThenEnd = (r: Running, packet: Buffer) => {
    clearTimeout(r.timer);
    try {
      r.socket.send(packet, () => end(r));
    } catch {
      end(r);
    }
  };

  const start = (req: RequestPacket, client: RemoteInfo) => {
    const key = `${client.address}:${client.port}`;
    if (running.has(key)) return drop('duplicate-request', client);
    if (req.mode !== 'octet') return refuse(client, 'mode', ERROR_CODE.UNDEFINED, 'Only octet mode is served');
    if (running.size >= maxTransfers) return refuse(client, 'busy', ERROR_CODE.UNDEFINED, 'Server busy, try again');
    if ((perClient.get(client.address) ?? 0) >= maxPerClient) return refuse(client, 'client-busy', ERROR_CODE.UNDEFINED, 'Too many transfers from this client');
    const opened = opts.content.open(req.filename, { address: client.address });
    if (!opened.ok) return refuse(client, opened.reason, opened.code, opened.message);
    const content = opened.content;
    const negotiation = negotiate(requestOptions(req.options), content.size, limits, req.options);
    if (opts.pump?.usable && (content.bytes || content.fd !== undefined)) return startPumped(req, client, key, content, negotiation, opts.pump);
    const transfer = new Transfer(content.size, negotiation, limits);
    const socket = createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup });
    const stray = createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup });
    const r: Running = {
      kind: 'node',
      key,
      client,
      file: req.filename,
      transfer,
      content,
      socket,
      stray,
      runSpace: EMPTY,
      run: EMPTY,
      runAt: 0,
      runCount: 0,
      startedAt: now(),
      dataSent: false,
      ended: false,
      timer: setTimeout(() => safely(r, TIMEOUT, client), transfer.timeoutMs),
    };
    admit(r);
    const onError = (err: NodeJS.ErrnoException) => {
      // ICMP port unreachable on the connected socket: the client closed its port (gave up).
      const gone = err.code === 'ECONNREFUSED';
      if (!gone) log?.once('transfer-socket', 'tftp transfer socket error', { error: err.message });
      if (r.ended) return;
      stats.transfersAborted++;
      emit(r, 'tftp-error', { reason: gone ? 'client-gone' : 'socket' }, true);
      end(r);
    };
    socket.on('error', onError);
    stray.on('error', onError);
    stray.on('message', (_msg, from) => safely(r, FOREIGN, from));
    socket.on('message', (msg, from) => {
      if (from.address !== client.address || from.port !== client.port) {
        return safely(r, FOREIGN, from);
      }
      let pkt;
      try {
        pkt = decodeTftp(msg);
      } catch (err) {
        return drop('malformed', from, err);
      }
      safely(r, pkt.op === 'ack' ? { type: 'ack', block: pkt.block } : pkt.op === 'error' ? { type: 'error', code: pkt.code, message: pkt.message } : UNEXPECTED, from);
    });
    socket.bind({ address: opts.address, port: 0, exclusive: true }, () => {
      socket.connect(client.port, client.address, () => {
        if (r.ended) return;
        stray.bind({ address: opts.address, port: socket.address().port, exclusive: true }, () => safely(r, START, client));
      });
    });
  };

  /**
   * The pump sends the blocks from a socket connected to the client on the port of `stray`, which
   * stays here, unconnected, and answers every other sender ERROR 5 (as the Node path's stray does).
   */
  const startPumped = (req: RequestPacket, client: RemoteInfo, key: string, content: Content, n: Negotiation, pump: TftpPump) => {
    const stray = createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup });
    const r: Pumped = { kind: 'pump', key, client, file: req.filename, content, stray, id: 0, startedAt: now(), ended: false };
    admit(r);
    stats.pumped++;
    stray.on('error', (err) => {
      log?.once('transfer-socket', 'tftp transfer socket error', { error: err.message });
      if (r.ended || r.id !== 0) return;
      stats.transfersAborted++;
      emit(r, 'tftp-error', { reason: 'socket' }, true);
      end(r);
    });
    stray.on('message', (_msg, from) => {
      drop('foreign-tid', from);
      stray.send(FOREIGN_TID, from.port, from.address);
    });
    stray.bind({ address: opts.address, port: 0, exclusive: true }, () => {
      if (r.ended) return;
      r.id = pump.send(
        {
          local: opts.address,
          port: stray.address().port,
          client: client.address,
          clientPort: client.port,
          blksize: n.blksize,
          windowsize: n.windowsize,
          timeoutMs: n.timeoutMs,
          retries: limits.maxRetries,
          size: content.size,
          oack: n.oack ? encodeOack(n.oack) : null,
          source: content.bytes ? { bytes: content.bytes } : { fd: content.fd! },
        },
        {
          onStart: () => emit(r, 'tftp-start', { size: content.size, blksize: n.blksize, windowsize: n.windowsize }, false),
          onEnd: (outcome, counts) => pumpedEnd(r, outcome, counts),
        },
      );
    });
  };

  const pumpedEnd = (r: Pumped, outcome: PumpOutcome, counts: PumpCounts) => {
    stats.bytesSent += counts.bytesSent;
    for (const reason of ['duplicate-ack', 'stale-ack', 'unexpected-packet', 'malformed'] as const) {
      if (counts[reason] > 0) drop(reason, r.client, undefined, counts[reason]);
    }
    if (outcome === 'done') {
      stats.transfersCompleted++;
      emit(r, 'tftp-done', { bytes: r.content.size }, true);
    } else if (outcome === 'size-probe') stats.sizeProbes++;
    else if (outcome !== 'stopped') {
      stats.transfersAborted++;
      if (outcome === 'internal') log?.once('transfer-failed', 'tftp transfer failed', { file: r.file, error: 'the pump could not send it (a file that shrank, or the pump stopped)' });
      emit(r, 'tftp-error', { reason: outcome, acked: counts.acked }, true);
    }
    end(r);
  };

  const onRequest = (msg: Buffer, from: RemoteInfo) => {
    let pkt;
    try {
      pkt = decodeTftp(msg);
    } catch (err) {
      drop('malformed', from, err);
      // A broken request still gets an answer (a client waiting on it learns why); other garbage
      // gets silence. The answer is a fixed few bytes, so this reflects nothing larger than it gets.
      if (msg.length >= 2 && msg[0] === 0 && (msg[1] === 1 || msg[1] === 2)) listener?.send(MALFORMED_REQUEST, from.port, from.address);
      return;
    }
    if (pkt.op === 'wrq') return refuse(from, 'write', ERROR_CODE.ACCESS_VIOLATION, 'Read-only server');
    if (pkt.op !== 'rrq') return drop('not-a-request', from);
    start(pkt, from);
  };

  return {
    listen() {
      return new Promise((resolve, reject) => {
        // Bursts (every machine of a rack powered on at once) queue here while the loop works.
        const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, lookup: literalLookup });
        listener = s;
        s.once('error', reject);
        s.on('message', (msg, from) => {
          try {
            onRequest(msg, from);
          } catch (err) {
            drop('internal', from, err);
          }
        });
        s.bind({ address: opts.address, port: opts.port ?? 69, exclusive: true }, () => {
          s.off('error', reject);
          s.on('error', (err) => log?.once('listener-socket', 'tftp listening socket error', { error: err.message }));
          const a = s.address();
          resolve({ address: a.address, port: a.port });
        });
      });
    },
    async close() {
      const waits: Promise<void>[] = [];
      for (const r of [...running.values()]) {
        if (r.kind === 'pump' && r.id !== 0 && opts.pump?.usable) {
          // Its content stays open until the pump has let go of it: a descriptor closed under the pump
          // could be reused by another file before the pump re-opens it.
          waits.push(new Promise<void>((resolve) => (r.settle = resolve)));
          opts.pump.stop(r.id);
        } else end(r);
      }
      await Promise.race([Promise.all(waits), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      for (const r of [...running.values()]) end(r);
      const s = listener;
      listener = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    stats: () => ({ ...stats, refused: { ...stats.refused }, drops: { ...stats.drops } }),
  };
}
