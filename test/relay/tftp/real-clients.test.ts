import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_PATHS, makeTree, serverStarter, type Running, type Tree } from './support/fixture.ts';

/**
 * Debian's TFTP clients against our server: tftp-hpa (no options: 512-byte blocks, window 1), curl
 * (blksize, tsize) and atftp (blksize + windowsize 8, RFC 7440). They come from .ci/packages.txt; a
 * missing one fails the test rather than skipping it.
 */
const run = promisify(execFile);
const ROLLOVER = 34 << 20; // 69,632 blocks of 512: past block 65535
const SIZES: Record<string, number> = {
  'empty.bin': 0,
  'one.bin': 1,
  'b512.bin': 512,
  'b1468x3.bin': 1468 * 3,
  'b1468x3p1.bin': 1468 * 3 + 1,
  'm1.bin': (1 << 20) + 5,
};
const memory = new Map([['ipxe.efi', Buffer.from(Array.from({ length: 1_000_003 }, (_, i) => (i * 7) & 0xff))]]);

describe.each(DATA_PATHS)('over the %s data path', (dataPath) => {
  const startServer = serverStarter(dataPath);
  let tree: Tree;
  let srv: Running;
  beforeAll(async () => {
    tree = makeTree({ ...SIZES, 'rollover.bin': ROLLOVER });
    srv = await startServer(tree.root, memory, { limits: { maxBlksize: 8192 } });
  });
  afterAll(async () => {
    await srv?.server.close();
    tree?.cleanup();
  });

  type Client = (name: string, out: string) => Promise<unknown>;
  const url = (name: string) => `tftp://127.0.0.1:${srv.at.port}/${name}`;
  const CLIENTS: Record<string, Client> = {
    'tftp-hpa': (name, out) => run('tftp', ['-m', 'binary', '127.0.0.1', String(srv.at.port), '-c', 'get', name, out], { timeout: 30_000 }),
    'curl --tftp-blksize 1468': (name, out) => run('curl', ['-sS', '--fail', '--tftp-blksize', '1468', '-o', out, url(name)], { timeout: 30_000 }),
    'atftp blksize 1468 windowsize 8': (name, out) =>
      run('atftp', ['-g', '-r', name, '-l', out, '--option', 'blksize 1468', '--option', 'windowsize 8', '127.0.0.1', String(srv.at.port)], { timeout: 30_000 }),
  };

  function expected(name: string): Buffer {
    return memory.get(name) ?? tree.files.get(name)!;
  }

  describe('TFTP with real clients', () => {
    for (const [client, get] of Object.entries(CLIENTS)) {
      it(`${client} downloads 0, 1, 512, 1468×3, 1468×3+1 bytes, 1 MiB and a file from memory, byte for byte`, async () => {
        for (const name of [...Object.keys(SIZES), 'ipxe.efi']) {
          const out = join(tree.dir, `${client.split(' ')[0]}-${name}`);
          await get(name, out);
          expect(readFileSync(out).equals(expected(name)), `${client} ${name}`).toBe(true);
        }
      });
    }

    it('tftp-hpa crosses the block-number rollover (34 MiB at 512-byte blocks)', async () => {
      const out = join(tree.dir, 'hpa-rollover');
      await CLIENTS['tftp-hpa']!('rollover.bin', out);
      expect(readFileSync(out).equals(expected('rollover.bin'))).toBe(true);
    }, 60_000);

    it('curl crosses the block-number rollover at 512-byte blocks', async () => {
      const out = join(tree.dir, 'curl-rollover');
      await run('curl', ['-sS', '--fail', '--tftp-blksize', '512', '-o', out, url('rollover.bin')], { timeout: 60_000 });
      expect(readFileSync(out).equals(expected('rollover.bin'))).toBe(true);
    }, 60_000);

    it('atftp with windowsize 8 crosses the rollover at 512-byte blocks', async () => {
      const out = join(tree.dir, 'atftp-rollover');
      await run('atftp', ['-g', '-r', 'rollover.bin', '-l', out, '--option', 'blksize 512', '--option', 'windowsize 8', '127.0.0.1', String(srv.at.port)], { timeout: 60_000 });
      expect(readFileSync(out).equals(expected('rollover.bin'))).toBe(true);
    }, 60_000);

    it('gives each real client an error, not a file, for a name outside the root', async () => {
      await expect(run('curl', ['-sS', '--fail', '-o', join(tree.dir, 'x'), url('../secret')])).rejects.toThrow();
      await expect(run('atftp', ['-g', '-r', '../secret', '-l', join(tree.dir, 'y'), '127.0.0.1', String(srv.at.port)])).rejects.toThrow();
      const hpa = await run('tftp', ['-m', 'binary', '127.0.0.1', String(srv.at.port), '-c', 'get', '../secret', join(tree.dir, 'z')]).catch((e) => e);
      expect(`${hpa.stdout}${hpa.stderr}`).toMatch(/Error code 2/);
    });
  });
});
