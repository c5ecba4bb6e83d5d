/**
 * A yardstick for `bench:tftp --floor`, not a server: the least a Node TFTP server can do per block
 * with dgram. Every DATA packet of a file is built before the first is sent; per ACK it sends the
 * next prebuilt packet on a connected socket and does nothing else (no timer, no state machine, no
 * checks, no retransmits, no options but blksize). What separates our server from it is our per-block
 * work; what separates it from in.tftpd is Node's own (the event loop, dgram's JS and C++ layers).
 *
 *   node node-floor.ts <root>   (prints `ready <port>`, runs until killed)
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2]!;
const built = new Map<string, Buffer[]>();

function packets(name: string, blksize: number): Buffer[] {
  const key = `${name}:${blksize}`;
  let out = built.get(key);
  if (out) return out;
  const data = readFileSync(join(root, name));
  out = [];
  for (let block = 1, at = 0; ; block++, at += blksize) {
    const n = Math.max(0, Math.min(blksize, data.length - at));
    const pkt = Buffer.allocUnsafe(4 + n);
    pkt.writeUInt16BE(3, 0);
    pkt.writeUInt16BE(block & 0xffff, 2);
    data.copy(pkt, 4, at, at + n);
    out.push(pkt);
    if (n < blksize) break;
  }
  built.set(key, out);
  return out;
}

const listener = createSocket('udp4');
listener.on('message', (msg, from) => {
  const fields = msg.subarray(2).toString('latin1').split('\0');
  const i = fields.indexOf('blksize');
  const blksize = i > 0 ? Number(fields[i + 1]) : 512;
  const pk = packets(fields[0]!, blksize);
  const s = createSocket('udp4');
  let next = 0;
  s.on('message', (m) => {
    if (m.readUInt16BE(2) !== (next & 0xffff)) return;
    if (next >= pk.length) return void s.close();
    s.send(pk[next++]!);
  });
  s.bind(0, '127.0.0.1', () =>
    s.connect(from.port, from.address, () => {
      if (i > 0) s.send(Buffer.from(`\0\x06blksize\0${blksize}\0`, 'latin1'));
      else s.send(pk[next++]!);
    }),
  );
});
listener.bind(0, '127.0.0.1', () => process.stdout.write(`ready ${listener.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
