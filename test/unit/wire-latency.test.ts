import { describe, expect, it } from 'vitest';
import { dhcpLatencies } from '../bench/support/wire-latency.ts';

/** An Ethernet/IPv4/UDP frame holding a DHCP packet of this xid and message type. */
function frame(xid: number, type: number, vlan = false): Buffer {
  const bootp = Buffer.alloc(240 + 4);
  bootp[0] = type === 1 || type === 3 ? 1 : 2;
  bootp.writeUInt32BE(xid, 4);
  bootp.writeUInt32BE(0x63825363, 236);
  // A pad, then option 53, then the end.
  bootp.set([0, 53, 1, type, 255].slice(0, 4), 240);
  const full = Buffer.concat([bootp, Buffer.from([255])]);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(68, 0);
  udp.writeUInt16BE(67, 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 17;
  const eth = Buffer.alloc(vlan ? 18 : 14);
  if (vlan) {
    eth.writeUInt16BE(0x8100, 12);
    eth.writeUInt16BE(0x0800, 16);
  } else eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, full]);
}

function pcap(packets: Array<[ms: number, frame: Buffer]>): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt32LE(1, 20);
  const recs = packets.map(([ms, f]) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(Math.floor(ms / 1000), 0);
    h.writeUInt32LE(Math.round((ms % 1000) * 1000), 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    return Buffer.concat([h, f]);
  });
  return Buffer.concat([head, ...recs]);
}

describe('bench:dhcp --wire: request → reply times from a capture', () => {
  it('pairs each OFFER with its DISCOVER and each ACK/NAK with its REQUEST by xid, sorted', () => {
    const t = 1_700_000_000_000;
    const r = dhcpLatencies(
      pcap([
        [t, frame(7, 1)],
        [t + 0.5, frame(8, 1, true)],
        [t + 0.75, frame(7, 2)],
        [t + 2.5, frame(8, 2, true)],
        [t + 3, frame(7, 3)],
        [t + 3.25, frame(7, 5)],
        [t + 4, frame(9, 3)],
        [t + 5, frame(9, 6)],
        // A reply nobody asked for, and a request never answered: no pair.
        [t + 6, frame(10, 2)],
        [t + 7, frame(11, 1)],
      ]),
    );
    expect(r.offer.map((x) => +x.toFixed(3))).toEqual([0.75, 2]);
    expect(r.ack.map((x) => +x.toFixed(3))).toEqual([0.25, 1]);
  });

  it('refuses a file that is not a little-endian Ethernet pcap', () => {
    expect(() => dhcpLatencies(Buffer.alloc(24))).toThrow(/not a little-endian pcap/);
  });
});
