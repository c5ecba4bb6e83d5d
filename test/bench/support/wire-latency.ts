/**
 * A DHCP server's own latency, read off the wire: tcpdump in the server's namespace timestamps each
 * request as the kernel receives it and each reply as the kernel sends it, so request → reply is the
 * server's time alone. perfdhcp's per-exchange times (`-x t`) also hold the time perfdhcp took to get
 * back to its socket: at 1,000/s it sleeps between sends, and its own tail showed up in every server's
 * p99, dnsmasq's included (37 ms). bench:dhcp --wire prints both.
 *
 * Pairs a reply with the last request of the same xid and the matching type: DISCOVER (1) → OFFER (2),
 * REQUEST (3) → ACK (5) or NAK (6).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

export interface WireLatencies {
  /** DISCOVER → OFFER, ms, sorted. */
  offer: number[];
  /** REQUEST → ACK/NAK, ms, sorted. */
  ack: number[];
  /** Packets tcpdump says the kernel dropped before it read them (then some pairs are missing). */
  dropped: number;
}

export interface WireCapture {
  stop(): Promise<WireLatencies>;
}

/** Starts tcpdump on `iface` in namespace `ns` (optionally pinned to `cpu`); resolves once it listens. */
export async function startWireCapture(o: { ns: string; iface: string; file: string; cpu?: number }): Promise<WireCapture> {
  const tcpdump = ['tcpdump', '-i', o.iface, '-n', '-s', '400', '-B', '32768', '-w', o.file, 'udp and (port 67 or port 68)'];
  const argv = ['netns', 'exec', o.ns, ...(o.cpu === undefined ? tcpdump : ['taskset', '-c', String(o.cpu), ...tcpdump])];
  const child: ChildProcess = spawn('ip', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // tcpdump says "listening on …" on stderr once the capture is open.
  for (let i = 0; i < 100 && !/listening on/.test(stderr); i++) {
    if (child.exitCode !== null) throw new Error(`tcpdump exited: ${stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!/listening on/.test(stderr)) {
    child.kill('SIGKILL');
    throw new Error(`tcpdump did not start: ${stderr.trim()}`);
  }
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 0);
      const out = { ...dhcpLatencies(readFileSync(o.file)), dropped };
      rmSync(o.file, { force: true });
      return out;
    },
  };
}

const DHCP_MAGIC = 0x63825363;

/** Request → reply times (ms, sorted) in a pcap file of Ethernet frames (tcpdump -w). */
export function dhcpLatencies(pcap: Buffer): { offer: number[]; ack: number[] } {
  const magic = pcap.readUInt32LE(0);
  const nanos = magic === 0xa1b23c4d;
  if (magic !== 0xa1b2c3d4 && !nanos) throw new Error(`not a little-endian pcap file (magic ${magic.toString(16)})`);
  const linkType = pcap.readUInt32LE(20);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}: only Ethernet (1) is read`);
  const pending = new Map<string, number>();
  const offer: number[] = [];
  const ack: number[] = [];
  for (let at = 24; at + 16 <= pcap.length; ) {
    const t = pcap.readUInt32LE(at) * 1000 + pcap.readUInt32LE(at + 4) / (nanos ? 1e6 : 1e3);
    const caplen = pcap.readUInt32LE(at + 8);
    const frame = pcap.subarray(at + 16, at + 16 + caplen);
    at += 16 + caplen;
    const m = dhcpOf(frame);
    if (!m) continue;
    if (m.type === 1 || m.type === 3) pending.set(`${m.type}:${m.xid}`, t);
    else if (m.type === 2 || m.type === 5 || m.type === 6) {
      const key = `${m.type === 2 ? 1 : 3}:${m.xid}`;
      const sent = pending.get(key);
      if (sent === undefined) continue;
      pending.delete(key);
      (m.type === 2 ? offer : ack).push(t - sent);
    }
  }
  return { offer: offer.sort((a, b) => a - b), ack: ack.sort((a, b) => a - b) };
}

/** The xid and message type (option 53) of a DHCP packet in an Ethernet/IPv4/UDP frame, else null. */
function dhcpOf(frame: Buffer): { xid: number; type: number } | null {
  let off = 12;
  let etherType = frame.length >= 14 ? frame.readUInt16BE(off) : 0;
  if (etherType === 0x8100 && frame.length >= 18) {
    off += 4;
    etherType = frame.readUInt16BE(off);
  }
  off += 2;
  if (etherType !== 0x0800 || frame.length < off + 20 || frame[off + 9] !== 17) return null;
  const udp = off + (frame[off]! & 0x0f) * 4;
  const bootp = udp + 8;
  if (frame.length < bootp + 240 || frame.readUInt32BE(bootp + 236) !== DHCP_MAGIC) return null;
  const xid = frame.readUInt32BE(bootp + 4);
  for (let i = bootp + 240; i < frame.length; ) {
    const code = frame[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255 || i + 1 >= frame.length) break;
    const len = frame[i + 1]!;
    if (code === 53 && len >= 1 && i + 2 < frame.length) return { xid, type: frame[i + 2]! };
    i += 2 + len;
  }
  return null;
}
