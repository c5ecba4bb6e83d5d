import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decodeTftp, encodeAck, encodeError, encodeRequest, type TftpPacket } from '../../../../relay/src/tftp/codec.ts';

/**
 * A TFTP client written for the tests, so they can do what real clients never do on purpose: drop
 * DATA, repeat ACKs, probe the size and give up, or watch every packet. It follows RFC 7440 on the
 * receiving side: ACK when `windowsize` blocks arrived since the last ACK or at the last block, ACK the
 * last in-order block when a gap shows, and re-ACK after `idleMs` of silence.
 */
export interface ScriptedOptions {
  options?: Array<[string, string]>;
  /** Bind the client to this local address (a second "machine" on loopback). */
  localAddress?: string;
  /** Return true to drop this DATA packet as if lost (called once per DATA received). */
  dropData?: (block: number) => boolean;
  /** Send every ACK this many times. */
  ackCopies?: number;
  /** Answer the OACK with ERROR 8 and stop (a UEFI size probe). */
  probeOnly?: boolean;
  /** Called for each DATA accepted in order, with the socket and the server's TID. */
  onData?: (block: number, count: number, server: RemoteInfo) => void;
  /** Receive-side silence before re-sending the last ACK. */
  idleMs?: number;
  deadlineMs?: number;
}

export interface ScriptedResult {
  data: Buffer;
  oack?: Array<[string, string]>;
  error?: { code: number; message: string };
  /** DATA packets received (duplicates and dropped ones included). */
  dataPackets: number;
  droppedData: number;
  server?: RemoteInfo;
}

export function scriptedGet(server: { address: string; port: number }, filename: string, o: ScriptedOptions = {}): Promise<ScriptedResult> {
  const sock: Socket = createSocket('udp4');
  const chunks: Buffer[] = [];
  const result: ScriptedResult = { data: Buffer.alloc(0), dataPackets: 0, droppedData: 0 };
  const options = o.options ?? [];
  const asked = new Map(options.map(([k, v]) => [k.toLowerCase(), v]));
  let blksize = 512;
  let windowsize = 1;
  let expected = 1;
  let sinceAck = 0;
  let lastAck: Buffer | undefined;
  let tid: RemoteInfo | undefined;
  const idleMs = o.idleMs ?? 200;

  return new Promise<ScriptedResult>((resolve, reject) => {
    const rrq = encodeRequest('rrq', filename, 'octet', options);
    const finish = (err?: Error) => {
      clearTimeout(deadline);
      clearInterval(idle);
      // The last ACK or ERROR must leave before the socket closes (dgram sends after a tick).
      closing = true;
      if (pending === 0) sock.close();
      result.data = Buffer.concat(chunks);
      if (err) reject(err);
      else resolve(result);
    };
    const deadline = setTimeout(() => finish(new Error(`scripted get of ${JSON.stringify(filename)} timed out after ${expected - 1} blocks`)), o.deadlineMs ?? 20_000);
    let heard = Date.now();
    const idle = setInterval(() => {
      if (Date.now() - heard < idleMs) return;
      heard = Date.now();
      if (lastAck && tid) send(lastAck, tid);
      else if (!tid) send(rrq, server);
    }, idleMs / 2);
    let pending = 0;
    let closing = false;
    const send = (b: Buffer, to: { port: number; address: string }, copies = 1) => {
      for (let i = 0; i < copies; i++) {
        pending++;
        sock.send(b, to.port, to.address, () => {
          if (--pending === 0 && closing) sock.close();
        });
      }
    };
    const ack = (block: number, to: RemoteInfo) => {
      lastAck = encodeAck(block);
      sinceAck = 0;
      send(lastAck, to, o.ackCopies ?? 1);
    };
    sock.on('error', (e) => finish(e));
    sock.on('message', (msg, from) => {
      heard = Date.now();
      if (!tid) {
        tid = from;
        result.server = from;
      } else if (from.port !== tid.port || from.address !== tid.address) return;
      let pkt: TftpPacket;
      try {
        pkt = decodeTftp(msg);
      } catch (e) {
        return finish(e as Error);
      }
      if (pkt.op === 'error') {
        result.error = { code: pkt.code, message: pkt.message };
        return finish();
      }
      if (pkt.op === 'oack') {
        result.oack = pkt.options;
        if (o.probeOnly) {
          send(encodeError(8, 'size probe'), from);
          return finish();
        }
        for (const [k, v] of pkt.options) {
          if (!asked.has(k)) return finish(new Error(`OACK carries ${k}, which was not asked`));
          if (k === 'blksize') blksize = Number(v);
          if (k === 'windowsize') windowsize = Number(v);
        }
        return ack(0, from);
      }
      if (pkt.op !== 'data') return finish(new Error(`unexpected ${pkt.op}`));
      result.dataPackets++;
      if (o.dropData?.(pkt.block)) {
        result.droppedData++;
        return;
      }
      if (pkt.block !== (expected & 0xffff)) {
        // A gap (or an old duplicate): tell the server where we are (RFC 7440 §4).
        if (((expected - 1 - pkt.block) & 0xffff) > windowsize) ack((expected - 1) & 0xffff, from);
        return;
      }
      chunks.push(Buffer.from(pkt.data));
      o.onData?.(pkt.block, expected, from);
      expected++;
      sinceAck++;
      if (pkt.data.length < blksize) {
        ack(pkt.block, from);
        return finish();
      }
      if (sinceAck >= windowsize) ack(pkt.block, from);
    });
    sock.bind({ address: o.localAddress ?? '127.0.0.1', port: 0 }, () => send(rrq, server));
  });
}

/** Sends one packet from a fresh socket and collects what comes back within `waitMs`. */
export function exchange(server: { address: string; port: number }, packet: Uint8Array, waitMs = 300): Promise<Array<{ pkt: TftpPacket; from: RemoteInfo }>> {
  const sock = createSocket('udp4');
  const got: Array<{ pkt: TftpPacket; from: RemoteInfo }> = [];
  return new Promise((resolve, reject) => {
    sock.on('error', reject);
    sock.on('message', (msg, from) => got.push({ pkt: decodeTftp(msg), from }));
    sock.bind({ address: '127.0.0.1', port: 0 }, () => {
      sock.send(packet, server.port, server.address);
      setTimeout(() => {
        sock.close();
        resolve(got);
      }, waitMs);
    });
  });
}

/** mulberry32: a small seeded PRNG so a lossy run drops the same packets every time. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
