import { spawn } from 'node:child_process';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTftpPump } from '../../../relay/build/native.ts';
import { decodeTftp } from '../../../relay/src/tftp/codec.ts';
import { startTftpPump } from '../../../relay/src/tftp/pump.ts';
import { handClient, makeTree, startServer, waitFor, type Tree } from './support/fixture.ts';
import { scriptedGet } from './support/scripted-client.ts';

/**
 * What only the native data path (relay/native/tftp-pump.c via relay/src/tftp/pump.ts) can do wrong:
 * die, be stopped mid-transfer, lose its file, or be sent a command it does not understand. The
 * protocol itself runs over both paths in server.test.ts, hostile.test.ts and real-clients.test.ts.
 */
let tree: Tree;
let binary: string;

beforeAll(() => {
  tree = makeTree({ 'small.bin': 3000, 'big.bin': 1 << 20 });
  binary = buildTftpPump();
});
afterAll(() => tree?.cleanup());

describe('the native TFTP data path', () => {
  it('ends the transfers of a pump that dies as internal failures, and serves the next request from Node', async () => {
    const pump = (await startTftpPump(binary))!;
    const srv = await startServer(tree.root, new Map(), { pump, limits: { defaultTimeoutMs: 5000 } });
    try {
      const c = await handClient(srv.at, 'big.bin');
      expect(decodeTftp(c.got[0]!)).toMatchObject({ op: 'data', block: 1 });
      expect(srv.server.stats().pumped).toBe(1);
      process.kill(pump.pid!, 'SIGKILL');
      await waitFor(() => srv.server.stats().active === 0);
      expect(pump.usable).toBe(false);
      expect(srv.events.filter((e) => e.stage === 'tftp-error').map((e) => e.detail.reason)).toEqual(['internal']);
      c.close();
      const next = await scriptedGet(srv.at, 'small.bin');
      expect(next.data.equals(tree.files.get('small.bin')!)).toBe(true);
      await waitFor(() => srv.server.stats().active === 0);
      expect(srv.server.stats()).toMatchObject({ pumped: 1, transfersCompleted: 1, transfersAborted: 1 });
    } finally {
      await srv.server.close();
      await pump.close();
    }
  });

  it('stops a transfer under way when the server closes, and keeps its file open until the pump let go', async () => {
    const pump = (await startTftpPump(binary))!;
    const srv = await startServer(tree.root, new Map(), { pump, limits: { defaultTimeoutMs: 5000 } });
    try {
      const c = await handClient(srv.at, 'big.bin');
      c.ack(1);
      await waitFor(() => c.got.length === 2);
      await srv.server.close();
      expect(srv.server.stats().active).toBe(0);
      // Closing did not count it as a failure, and the pump is still up for other servers.
      expect(srv.server.stats().transfersAborted).toBe(0);
      expect(pump.usable).toBe(true);
      // The pump's socket is gone: an ACK now gets nothing more.
      c.ack(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(c.got.length).toBe(2);
      c.close();
    } finally {
      await pump.close();
    }
  });

  it('aborts with ERROR 0 when the file shrinks under the transfer', async () => {
    const pump = (await startTftpPump(binary))!;
    const shrinking = makeTree({ 'shrinks.bin': 256 * 1024 });
    const srv = await startServer(shrinking.root, new Map(), { pump, limits: { defaultTimeoutMs: 5000 } });
    const c = await handClient(srv.at, 'shrinks.bin');
    try {
      // The pump reads 64 KiB ahead: cut the file well before the next run it will read.
      truncateSync(join(shrinking.root, 'shrinks.bin'), 1000);
      for (let block = 1; c.got.length < 200; block++) {
        const before = c.got.length;
        c.ack(block);
        await waitFor(() => c.got.length > before);
        const last = decodeTftp(c.got.at(-1)!);
        if (last.op === 'error') {
          expect(last).toMatchObject({ code: 0, message: 'Transfer failed' });
          break;
        }
      }
      expect(decodeTftp(c.got.at(-1)!).op).toBe('error');
      // 64 KiB ahead of 512-byte blocks: block 129 is the first the file no longer has.
      expect(c.got.length).toBe(129);
      await waitFor(() => srv.server.stats().active === 0);
      expect(srv.events.filter((e) => e.stage === 'tftp-error').map((e) => e.detail.reason)).toEqual(['internal']);
    } finally {
      c.close();
      await srv.server.close();
      await pump.close();
      shrinking.cleanup();
    }
  });

  it('exits with status 2 and says why on a command it does not understand, and the relay then serves from Node', async () => {
    for (const bad of ['bogus\n', 'send 1 127.0.0.1 7 127.0.0.1\n', 'blob 1 notanumber\n', `send ${'9'.repeat(600)}\n`]) {
      const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', (c) => resolve(c));
        child.stdin.end(bad);
      });
      expect(code, bad).toBe(2);
      expect(err).toMatch(/^edgeboot-tftp-pump: /);
    }
    // Through the relay's side: a pump binary that cannot start leaves the server on Node.
    expect(await startTftpPump(join(tree.dir, 'no-such-pump'))).toBeNull();
  });
});
