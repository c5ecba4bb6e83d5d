import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeError, encodeRequest } from '../../../relay/src/tftp/codec.ts';
import { RUN_BYTES } from '../../../relay/src/tftp/server.ts';
import { DATA_PATHS, makeTree, serverStarter, waitFor, type Running, type Tree } from './support/fixture.ts';
import { exchange, scriptedGet, seeded } from './support/scripted-client.ts';

const MiB = 1 << 20;
describe.each(DATA_PATHS)('over the %s data path', (dataPath) => {
  const startServer = serverStarter(dataPath);
  let tree: Tree;
  let srv: Running;
  const ipxe = Buffer.from(Array.from({ length: 1_100_077 }, (_, i) => (i * 31) & 0xff));

  beforeAll(async () => {
    tree = makeTree({ 'big.bin': MiB + 3, 'small.bin': 3000, 'two-runs.bin': 2 * RUN_BYTES });
    srv = await startServer(tree.root, new Map([['ipxe.efi', ipxe]]), { limits: { defaultTimeoutMs: 40 } });
  });
  afterAll(async () => {
    await srv?.server.close();
    tree?.cleanup();
  });

  describe('TFTP server with scripted clients', () => {
    it('answers an OVMF-style size probe with an OACK, then serves the real request from memory', async () => {
      const before = srv.server.stats();
      const probe = await scriptedGet(srv.at, 'ipxe.efi', {
        options: [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']],
        probeOnly: true,
      });
      expect(probe.oack).toEqual([['tsize', String(ipxe.length)], ['blksize', '1468'], ['windowsize', '4']]);
      expect(probe.server!.port).not.toBe(srv.at.port);
      const got = await scriptedGet(srv.at, 'ipxe.efi', { options: [['blksize', '1468'], ['windowsize', '4']] });
      expect(got.oack).toEqual([['blksize', '1468'], ['windowsize', '4']]);
      expect(got.data.equals(ipxe)).toBe(true);
      await waitFor(() => srv.server.stats().transfersCompleted === before.transfersCompleted + 1);
      const after = srv.server.stats();
      expect(after.sizeProbes).toBe(before.sizeProbes + 1);
      // The probe and the transfer: each sent by the data path under test.
      expect(after.pumped - before.pumped).toBe(dataPath === 'native' ? 2 : 0);
      expect(after.transfersAborted).toBe(before.transfersAborted);
      const mine = srv.events.filter((e) => e.detail.file === 'ipxe.efi');
      expect(mine.map((e) => e.stage)).toEqual(['tftp-start', 'tftp-done']);
      expect(mine[1]).toMatchObject({ client: '127.0.0.1', detail: { bytes: ipxe.length } });
      expect(mine[1]!.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('caps blksize and windowsize and ignores unknown options instead of echoing them', async () => {
      const got = await scriptedGet(srv.at, 'small.bin', { options: [['BlkSize', '9000'], ['WINDOWSIZE', '1000'], ['x-vendor', '1'], ['timeout', '3']] });
      expect(got.oack).toEqual([['blksize', '1468'], ['windowsize', '64'], ['timeout', '3']]);
      expect(got.data.equals(tree.files.get('small.bin')!)).toBe(true);
    });

    for (const windowsize of [1, 4]) {
      it(`completes a transfer losing 2% of DATA (seeded) at windowsize ${windowsize}`, async () => {
        const rnd = seeded(20261125 + windowsize);
        const got = await scriptedGet(srv.at, 'big.bin', {
          options: [['blksize', '1468'], ['windowsize', String(windowsize)]],
          dropData: () => rnd() < 0.02,
          idleMs: 100,
        });
        expect(got.droppedData).toBeGreaterThan(5);
        expect(got.data.equals(tree.files.get('big.bin')!)).toBe(true);
      });
    }

    it('resends blocks from a run of packets it has already moved past when a partial ACK asks for them', async () => {
      // 512-byte blocks: each run holds RUN_BYTES / 512 = 32 packets. At windowsize 5 the window
      // 31–35 straddles the first run's end, so losing block 32 the first time leaves the server on
      // the second run when the client's ACK of 31 asks for 32 again: the resend needs the first run back.
      const perRun = RUN_BYTES / 512;
      for (const name of ['big.bin', 'ipxe.efi']) {
        const lostOnce = new Set<number>();
        const got = await scriptedGet(srv.at, name, {
          options: [['blksize', '512'], ['windowsize', '5']],
          dropData: (block) => {
            if (block % perRun !== 0 || lostOnce.has(block)) return false;
            lostOnce.add(block);
            return true;
          },
          idleMs: 100,
        });
        expect(got.droppedData).toBeGreaterThan(20);
        expect(got.data.equals(name === 'ipxe.efi' ? ipxe : tree.files.get(name)!)).toBe(true);
      }
    });

    it('ends a file of whole runs with the empty block after the last run', async () => {
      const got = await scriptedGet(srv.at, 'two-runs.bin', {});
      expect(got.data.length).toBe(2 * RUN_BYTES);
      expect(got.data.equals(tree.files.get('two-runs.bin')!)).toBe(true);
      expect(got.dataPackets).toBe((2 * RUN_BYTES) / 512 + 1);
    });

    it('does not multiply DATA when every ACK arrives three times', async () => {
      const blocks = Math.floor((MiB + 3) / 512) + 1;
      const got = await scriptedGet(srv.at, 'big.bin', { ackCopies: 3 });
      expect(got.data.equals(tree.files.get('big.bin')!)).toBe(true);
      // 40 ms retransmit timeout on loopback: a handful of timer-driven resends at most, never ×3.
      expect(got.dataPackets).toBeLessThan(blocks * 1.02);
      expect(got.dataPackets).toBeGreaterThanOrEqual(blocks);
      await waitFor(() => (srv.server.stats().drops['duplicate-ack'] ?? 0) >= blocks);
    });

    it('answers a spoofed ERROR from another port with ERROR 5 and finishes the transfer', async () => {
      const spoofer = createSocket('udp4');
      const replies: Buffer[] = [];
      spoofer.on('message', (m) => replies.push(m));
      await new Promise<void>((r) => spoofer.bind({ address: '127.0.0.1', port: 0 }, () => r()));
      const got = await scriptedGet(srv.at, 'big.bin', {
        onData: (_b, n, server) => {
          if (n === 3) spoofer.send(encodeError(0, 'go away'), server.port, server.address);
        },
      });
      expect(got.data.equals(tree.files.get('big.bin')!)).toBe(true);
      await waitFor(() => replies.length > 0);
      spoofer.close();
      expect(decodeTftp(replies[0]!)).toMatchObject({ op: 'error', code: 5 });
      expect(srv.server.stats().drops['foreign-tid']).toBeGreaterThanOrEqual(1);
    });

    it('refuses a write request with ERROR 2 and creates nothing', async () => {
      const got = await exchange(srv.at, encodeRequest('wrq', 'new.bin', 'octet'));
      expect(got.map((g) => g.pkt)).toEqual([{ op: 'error', code: 2, message: 'Read-only server' }]);
      expect(existsSync(join(tree.root, 'new.bin'))).toBe(false);
    });

    it('refuses netascii and mail modes: boot files are binary', async () => {
      const got = await exchange(srv.at, encodeRequest('rrq', 'small.bin', 'netascii'));
      expect(got.map((g) => g.pkt)).toMatchObject([{ op: 'error', code: 0 }]);
    });
  });

  /** A client that reads the first DATA and never ACKs, keeping its port open until closed. */
  async function stalled(at: { address: string; port: number }, localAddress: string) {
    const sock = createSocket('udp4');
    const first = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    await new Promise<void>((r) => sock.bind({ address: localAddress, port: 0 }, () => r()));
    sock.send(encodeRequest('rrq', 'small.bin'), at.port, at.address);
    expect(decodeTftp(await first)).toMatchObject({ op: 'data', block: 1 });
    return sock;
  }

  describe('TFTP limits', () => {
    it('refuses beyond the per-client and overall limits, and frees a slot when a stalled transfer gives up', async () => {
      const limited = await startServer(tree.root, new Map(), { maxTransfers: 3, maxPerClient: 2, limits: { defaultTimeoutMs: 300, maxRetries: 2 } });
      const stalls = [];
      try {
        stalls.push(await stalled(limited.at, '127.0.0.1'), await stalled(limited.at, '127.0.0.1'));
        expect(limited.server.stats().active).toBe(2);
        const third = await exchange(limited.at, encodeRequest('rrq', 'small.bin'), 50);
        expect(third[0]?.pkt).toMatchObject({ op: 'error', code: 0, message: 'Too many transfers from this client' });
        const other = await scriptedGet(limited.at, 'small.bin', { localAddress: '127.0.0.2' });
        expect(other.data.equals(tree.files.get('small.bin')!)).toBe(true);
        stalls.push(await stalled(limited.at, '127.0.0.3'));
        expect(limited.server.stats().active).toBe(3);
        const busy = await scriptedGet(limited.at, 'small.bin', { localAddress: '127.0.0.4' });
        expect(busy.error).toEqual({ code: 0, message: 'Server busy, try again' });
        // 300 ms × (1 + 2 retries): every stalled transfer is abandoned within a second or so.
        await waitFor(() => limited.server.stats().active === 0, 3000);
        expect(limited.server.stats().transfersAborted).toBe(3);
        expect(limited.events.filter((e) => e.stage === 'tftp-error').map((e) => e.detail.reason)).toEqual(['timeout', 'timeout', 'timeout']);
        const again = await scriptedGet(limited.at, 'small.bin');
        expect(again.data.equals(tree.files.get('small.bin')!)).toBe(true);
      } finally {
        for (const s of stalls) s.close();
        await limited.server.close();
      }
    });

    it('ends a transfer at once when the client closes its port (ICMP unreachable), without waiting for retries', async () => {
      const quick = await startServer(tree.root, new Map(), { limits: { defaultTimeoutMs: 100, maxRetries: 50 } });
      try {
        (await stalled(quick.at, '127.0.0.1')).close();
        // The first retransmission (100 ms) meets a closed port; 50 retries would take 5 s.
        await waitFor(() => quick.server.stats().active === 0, 1000);
        expect(quick.events.filter((e) => e.stage === 'tftp-error').map((e) => e.detail.reason)).toEqual(['client-gone']);
      } finally {
        await quick.server.close();
      }
    });
  });
});
