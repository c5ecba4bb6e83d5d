import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { bufferSource, copyRange, type ByteSource } from '../../../relay/src/http/cache/copy.ts';

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

  it('lets the event loop run between chunks even when the socket never pushes back (DHCP shares the loop)', async () => {
    const res = openResponse();
    const seen: number[] = [];
    const tick = () => {
      seen.push(res.chunks.length);
      if (!res.ended) setImmediate(tick);
    };
    setImmediate(tick);
    await copyRange(asRes(res), bufferSource(bytes), 0, bytes.length, { chunkBytes: 1024, onBytes: () => undefined });
    // Each turn of the loop saw the copy one chunk further, never all ten at once.
    expect(new Set(seen).size).toBeGreaterThanOrEqual(9);
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
