import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeAck, encodeRequest } from '../../../relay/src/tftp/codec.ts';
import { DATA_PATHS, handClient, makeTree, SECRET, serverStarter, waitFor, type Running, type Tree } from './support/fixture.ts';
import { exchange, scriptedGet, seeded } from './support/scripted-client.ts';

describe.each(DATA_PATHS)('over the %s data path', (dataPath) => {
  const startServer = serverStarter(dataPath);
  let tree: Tree;
  let srv: Running;

  beforeAll(async () => {
    tree = makeTree({ 'ok.bin': 700, 'long.bin': 64 * 1024 });
    srv = await startServer(tree.root, new Map([['ipxe.efi', Buffer.from('in memory')]]));
  });
  afterAll(async () => {
    await srv?.server.close();
    tree?.cleanup();
  });

  /** Names as raw bytes (latin1): each must get an ERROR and never a DATA packet. */
  const TRAVERSAL: string[] = [
    '../secret',
    '../../../../../../etc/passwd',
    '/etc/passwd',
    '//etc/passwd',
    '/../secret',
    '..\\secret',
    '..\\..\\etc\\passwd',
    'C:\\Windows\\win.ini',
    '\\\\server\\share\\x',
    '%2e%2e/secret',
    '%2e%2e%2fsecret',
    '..%2fsecret',
    'sub/../../secret',
    'a/../../secret',
    'ok.bin/..',
    'sub/./../../secret',
    '..',
    '.',
    './ok.bin',
    'sub//ok.bin',
    'sub/',
    'file:///etc/passwd',
    'ok.bin\x01',
    '\x7f',
    'ok\x1b[31m.bin',
    '\tok.bin',
    'ok.bin\n',
    'ok.bin\r\n../secret',
    'caf\xe9.bin',
    '\xc3\xa9t\xc3\xa9.bin',
    '\xff\xfe',
    'a'.repeat(256),
    'a'.repeat(300),
    `${'sub/'.repeat(70)}ok.bin`,
    'escape',
    'escape-relative',
    'outdir/secret',
    'passwd',
    'zero',
    'sub',
    'fifo',
    '/proc/self/environ',
    '/dev/zero',
  ];

  describe('TFTP path policy over the wire', () => {
    it('serves the control files (so the refusals below mean something)', async () => {
      expect((await scriptedGet(srv.at, 'ok.bin')).data.equals(tree.files.get('ok.bin')!)).toBe(true);
      expect((await scriptedGet(srv.at, '/ok.bin')).data.equals(tree.files.get('ok.bin')!)).toBe(true);
      expect((await scriptedGet(srv.at, '/ipxe.efi')).data.toString()).toBe('in memory');
    });

    it(`answers each of ${TRAVERSAL.length} hostile names with an ERROR and never a byte`, async () => {
      expect(TRAVERSAL.length).toBeGreaterThanOrEqual(30);
      const results = await Promise.all(TRAVERSAL.map((name) => exchange(srv.at, encodeRequest('rrq', name, 'octet', [['blksize', '1468']]), 300)));
      results.forEach((got, i) => {
        const what = JSON.stringify(TRAVERSAL[i]);
        expect(got.length, what).toBe(1);
        expect(got[0]!.pkt.op, what).toBe('error');
        expect([1, 2], what).toContain((got[0]!.pkt as { code: number }).code);
      });
    });

    it('answers a name carrying a NUL with ERROR 4: the NUL ends the name and the rest is no mode', async () => {
      for (const name of ['ok.bin\0../secret', '../secret\0ok.bin', '\0']) {
        const got = await exchange(srv.at, Buffer.concat([Buffer.from([0, 1]), Buffer.from(name, 'latin1'), Buffer.from([0]), Buffer.from('octet\0')]), 200);
        expect(got.map((g) => g.pkt), JSON.stringify(name)).toMatchObject([{ op: 'error', code: 4 }]);
      }
      expect(JSON.stringify(srv.server.stats())).not.toContain(SECRET.toString().trim());
    });
  });

  /** Every malformed shape we can think of, deterministic. */
  function malformed(): Buffer[] {
    const out: Buffer[] = [];
    const valid = encodeRequest('rrq', 'ok.bin', 'octet', [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']]);
    for (let n = 0; n < valid.length; n++) {
      // Every truncation short of a complete option pair is malformed; those ending on a pair boundary are valid.
      const cut = valid.subarray(0, n);
      if (n > 0 && cut[n - 1] === 0 && isComplete(cut)) continue;
      out.push(Buffer.from(cut));
    }
    for (const op of [0, 7, 8, 255, 256, 1000, 65535]) out.push(Buffer.from([op >> 8, op & 0xff, 0x61, 0, 0x62, 0]));
    out.push(Buffer.from('\x00\x01ok.bin\x00octet')); // mode without NUL
    out.push(Buffer.from('\x00\x01ok.bin')); // name without NUL
    out.push(Buffer.from('\x00\x01\x00octet\x00')); // empty name
    out.push(Buffer.from('\x00\x01ok.bin\x00binary\x00')); // unknown mode
    out.push(Buffer.from('\x00\x01ok.bin\x00octet\x00blksize\x00')); // option without value
    out.push(Buffer.from('\x00\x01ok.bin\x00octet\x00\x001468\x00')); // empty option name
    out.push(Buffer.concat([Buffer.from('\x00\x01ok.bin\x00octet\x00'), Buffer.from('x\x001\x00'.repeat(1000))])); // huge option list
    out.push(Buffer.from([0, 4, 0])); // short ACK
    out.push(Buffer.from([0, 4, 0, 1, 9])); // long ACK
    out.push(Buffer.from([0, 3, 0])); // short DATA
    out.push(Buffer.from([0, 5, 0, 1])); // ERROR without message
    out.push(Buffer.from([0, 5, 0, 1, 0x61])); // ERROR without NUL
    out.push(Buffer.alloc(65507)); // largest datagram, opcode 0
    const rnd = seeded(69);
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.alloc(1 + Math.floor(rnd() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      // Random bytes that happen to form a valid packet are not malformed: keep only those that are.
      try {
        decodeTftp(b);
      } catch {
        out.push(b);
      }
    }
    return out;
  }

  function isComplete(b: Buffer): boolean {
    try {
      decodeTftp(b);
      return true;
    } catch {
      return false;
    }
  }

  describe('TFTP under malformed input', () => {
    it('drops thousands of malformed packets, counts each, and answers the next valid RRQ within 500 ms', async () => {
      const packets = malformed();
      expect(packets.length).toBeGreaterThan(3000);
      const before = srv.server.stats().drops.malformed ?? 0;
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind({ address: '127.0.0.1', port: 0 }, () => r()));
      // Paced in bursts: the kernel's receive queue (rmem_max) would otherwise drop some, and the
      // test counts every one.
      for (let i = 0; i < packets.length; i += 50) {
        const burst = packets.slice(i, i + 50);
        for (const p of burst) sock.send(p, srv.at.port, srv.at.address);
        const want = before + Math.min(i + 50, packets.length);
        await waitFor(() => (srv.server.stats().drops.malformed ?? 0) >= want, 5000);
      }
      sock.close();
      expect(srv.server.stats().drops.malformed).toBe(before + packets.length);
      const t0 = performance.now();
      const got = await exchange(srv.at, encodeRequest('rrq', 'ok.bin'), 500);
      const first = got[0];
      expect(first?.pkt).toMatchObject({ op: 'data', block: 1 });
      expect(performance.now() - t0).toBeLessThan(500 + 50);
    });

    it('keeps a transfer going while the client itself sends it garbage, counting each packet by kind', async () => {
      const GARBAGE = [
        Buffer.alloc(0),
        Buffer.from([0]),
        Buffer.from([0, 4, 0]), // an ACK one byte short
        Buffer.from([0, 4, 0, 1, 0]), // an ACK one byte long
        Buffer.from([0, 5, 0, 1, 0x41]), // an ERROR whose message has no NUL
        Buffer.from([0, 5, 0, 1, 0x41, 0, 0x42]), // bytes after the ERROR's message
        Buffer.from([0, 9, 1, 2, 3]), // no such opcode
        Buffer.alloc(3000, 0x99), // larger than any packet of a read transfer
      ];
      const UNEXPECTED = [Buffer.from([0, 3, 0, 1, 1, 2, 3])]; // DATA, in a read transfer
      const before = srv.server.stats();
      const c = await handClient(srv.at, 'long.bin');
      try {
        for (const p of [...GARBAGE, ...UNEXPECTED]) c.send(p);
        const data: Buffer[] = [];
        for (let block = 1; ; block++) {
          await waitFor(() => c.got.length >= block);
          const pkt = decodeTftp(c.got[block - 1]!);
          expect(pkt).toMatchObject({ op: 'data', block });
          data.push(Buffer.from((pkt as { data: Uint8Array }).data));
          c.ack(block);
          if ((pkt as { data: Uint8Array }).data.length < 512) break;
        }
        expect(Buffer.concat(data).equals(tree.files.get('long.bin')!)).toBe(true);
        await waitFor(() => srv.server.stats().transfersCompleted === before.transfersCompleted + 1);
        const after = srv.server.stats();
        expect((after.drops.malformed ?? 0) - (before.drops.malformed ?? 0)).toBe(GARBAGE.length);
        expect((after.drops['unexpected-packet'] ?? 0) - (before.drops['unexpected-packet'] ?? 0)).toBe(UNEXPECTED.length);
        // (Earlier tests' stalled transfers may time out meanwhile: look at this file's events only.)
        expect(srv.events.filter((e) => e.detail.file === 'long.bin').map((e) => e.stage)).toEqual(['tftp-start', 'tftp-done']);
      } finally {
        c.close();
      }
    });

    it('keeps a transfer going while its port takes 200 random packets from a foreign port', async () => {
      const junk = createSocket('udp4');
      const answers: number[] = [];
      junk.on('message', (m) => answers.push(m.readUInt16BE(2)));
      await new Promise<void>((r) => junk.bind({ address: '127.0.0.1', port: 0 }, () => r()));
      const rnd = seeded(7);
      let sentJunk = 0;
      // 128 blocks: the transfer is still running when the junk arrives (on the native path its end
      // can race a foreign packet that came in at the last block, which then goes unanswered).
      const got = await scriptedGet(srv.at, 'long.bin', {
        onData: (_b, n, server) => {
          if (n !== 1) return;
          for (let i = 0; i < 200; i++) {
            const b = Buffer.alloc(1 + Math.floor(rnd() * 100)).map(() => Math.floor(rnd() * 256));
            junk.send(b, server.port, server.address);
            sentJunk++;
          }
          junk.send(encodeAck(1), server.port, server.address);
        },
      });
      expect(sentJunk).toBe(200);
      expect(got.data.equals(tree.files.get('long.bin')!)).toBe(true);
      await waitFor(() => answers.length > 0);
      expect(new Set(answers)).toEqual(new Set([5]));
      junk.close();
    });
  });
});
