import { createServer, get, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bufferSource, copyRange, type ByteSource } from '../../../relay/src/http/cache/copy.ts';
import { TurnBudget } from '../../../relay/src/http/cache/turn-budget.ts';

/** Test double for a response whose socket never pushes back (loopback, a fast LAN): records what it gets. */
function openResponse() {
  const r = {
    chunks: [] as Buffer[],
    ended: false,
    destroyed: false,
    write(b: Uint8Array) {
      r.chunks.push(Buffer.from(b));
      return true;
    },
    end() {
      r.ended = true;
    },
    destroy() {
      r.destroyed = true;
    },
    on() {},
    off() {},
  };
  return r;
}
const asRes = (r: ReturnType<typeof openResponse>) => r as unknown as ServerResponse;
const bytes = Buffer.from(Array.from({ length: 10 * 1024 }, (_, i) => i % 251));

describe('copy loop', () => {
  it('copies exactly the asked range, in chunks, then ends the response', async () => {
    const res = openResponse();
    let counted = 0;
    await copyRange(asRes(res), bufferSource(bytes), 1000, 5000, { chunkBytes: 1024, onBytes: (n) => (counted += n) });
    expect(Buffer.concat(res.chunks)).toEqual(bytes.subarray(1000, 5000));
    expect(res.chunks.map((c) => c.length)).toEqual([1024, 1024, 1024, 928]);
    expect(counted).toBe(4000);
    expect(res.ended).toBe(true);
  });

  it('lets the event loop run once a turn has copied its budget, even when the socket never pushes back (DHCP shares the loop)', async () => {
    const res = openResponse();
    const seen: number[] = [];
    const tick = () => {
      seen.push(Buffer.concat(res.chunks).length);
      if (!res.ended) setImmediate(tick);
    };
    setImmediate(tick);
    await copyRange(asRes(res), bufferSource(bytes), 0, bytes.length, { chunkBytes: 4096, onBytes: () => undefined, budget: new TurnBudget(2048, 1024) });
    expect(Buffer.concat(res.chunks)).toEqual(bytes);
    // 10 KiB at 2 KiB a turn: five turns or more, never more than the budget between two of them.
    const perTurn = seen.slice(1).map((n, i) => n - seen[i]!);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(2048);
    expect(seen.filter((n, i) => i > 0 && n > seen[i - 1]!).length).toBeGreaterThanOrEqual(3);
    expect(res.chunks.every((c) => c.length <= 1024)).toBe(true);
  });

  it('keeps to the budget on a real loopback socket, whose drain comes on the next tick, with many responses at once', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024, 7);
    const budget = new TurnBudget(512 * 1024, 128 * 1024);
    let written = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      void copyRange(res, bufferSource(data), 0, data.length, { chunkBytes: 1024 * 1024, onBytes: (n) => (written += n), budget });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const perTurn: number[] = [];
    let last = 0;
    let running = true;
    const tick = () => {
      perTurn.push(written - last);
      last = written;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const fetchOne = () =>
      new Promise<number>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/' }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
        }).on('error', reject);
      });
    try {
      const got = await Promise.all(Array.from({ length: 4 }, fetchOne));
      expect(got).toEqual([data.length, data.length, data.length, data.length]);
      expect(written).toBe(4 * data.length);
      expect(Math.max(...perTurn)).toBeLessThanOrEqual(512 * 1024);
    } finally {
      running = false;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('resets the connection instead of ending it when the source fails midway', async () => {
    const res = openResponse();
    const failing: ByteSource = {
      limit: () => bytes.length,
      read: async (pos, length) => {
        if (pos >= 2048) throw new Error('EIO');
        return bytes.subarray(pos, pos + length);
      },
      grown: async () => undefined,
    };
    await copyRange(asRes(res), failing, 0, bytes.length, { chunkBytes: 1024, onBytes: () => undefined });
    expect(res.destroyed).toBe(true);
    expect(res.ended).toBe(false);
    expect(Buffer.concat(res.chunks)).toEqual(bytes.subarray(0, 2048));
  });

  it('reads no further than the source allows until it grows', async () => {
    const res = openResponse();
    let limit = 1500;
    const growing: ByteSource = {
      limit: () => limit,
      read: async (pos, length) => bytes.subarray(pos, pos + length),
      grown: async () => {
        expect(Buffer.concat(res.chunks).length).toBe(limit); // everything available was sent first
        limit = Math.min(bytes.length, limit + 3000);
      },
    };
    await copyRange(asRes(res), growing, 0, bytes.length, { chunkBytes: 1024, onBytes: () => undefined });
    expect(Buffer.concat(res.chunks)).toEqual(bytes);
    expect(res.ended).toBe(true);
  });
});
