import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { LOOP_BUDGET, type TurnBudget } from './turn-budget.ts';

/**
 * Where a response's bytes come from: a memory copy, a complete object's fd, or a fill's partial file
 * that is still growing. The one copy loop below serves all three.
 */
export interface ByteSource {
  /** Bytes before this offset may be read now. Throws when the source failed (a fill refused). */
  limit(): number;
  /** Up to `length` bytes at `pos` (fewer only at end of file). */
  read(pos: number, length: number): Promise<Uint8Array>;
  /** Resolves when `limit()` may have grown (or the source failed). */
  grown(): Promise<void>;
}

/** Slices of one buffer: no read, no copy in user space. */
export function bufferSource(data: Buffer): ByteSource {
  return { limit: () => data.length, read: async (pos, length) => data.subarray(pos, pos + length), grown: async () => undefined };
}

/** A file read at positions, up to what `limit` allows (all of it for a complete object). */
export function fileSource(fh: FileHandle, limit: () => number, grown: () => Promise<void> = async () => undefined): ByteSource {
  return {
    limit,
    async read(pos, length) {
      // A fresh buffer per read: the socket keeps it until written, so it cannot be reused.
      const buf = Buffer.allocUnsafeSlow(length);
      const { bytesRead } = await fh.read(buf, 0, length, pos);
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    },
    grown,
  };
}

/**
 * Writes [start, end) of `src` to `res` with backpressure, then ends it. The next read starts before
 * waiting for the socket to drain, so disk and socket overlap (Node has no sendfile). Each write is at
 * most `budget.sliceBytes` and waits for the loop's per-turn byte budget (turn-budget.ts), so however
 * many responses run and however fast their sockets take bytes, a turn of the loop that also answers
 * DHCP copies a bounded amount and then lets the poll phase run. Any failure —
 * a short file, a refused fill — resets the connection rather than ending it: with Content-Length
 * sent, a short body must read as an error to every client. Never throws; returns once the last
 * byte is handed to the socket or the connection is gone.
 */
export async function copyRange(res: ServerResponse, src: ByteSource, start: number, end: number, o: { chunkBytes: number; onBytes: (n: number) => void; budget?: TurnBudget }): Promise<void> {
  const budget = o.budget ?? LOOP_BUDGET;
  let pos = start;
  let ahead: Promise<Uint8Array> | null = null;
  const readNext = (): Promise<Uint8Array> | null => {
    const limit = Math.min(end, src.limit());
    if (pos >= limit) return null;
    const p = src.read(pos, Math.min(o.chunkBytes, limit - pos));
    p.catch(() => undefined); // handled when awaited; until then a failed read must not count as unhandled
    return p;
  };
  try {
    while (pos < end) {
      if (res.destroyed) return;
      const pending = ahead ?? readNext();
      ahead = null;
      if (!pending) {
        await src.grown();
        continue;
      }
      const piece = await pending;
      if (piece.length === 0) throw new Error('the cached file ended early');
      pos += piece.length;
      if (pos < end && !res.destroyed) ahead = readNext();
      // On loopback or a fast LAN a write finishes at once and its 'drain' comes on the next tick:
      // without the budget, chunk after chunk would follow in ticks and microtasks and one turn could
      // copy whole objects for every client while DHCP waits (test/relay/cache/copy.test.ts).
      for (let at = 0; at < piece.length && !res.destroyed; ) {
        const slice = piece.subarray(at, at + budget.sliceBytes);
        const wait = budget.take(slice.length);
        if (wait) await wait;
        if (res.destroyed) break;
        at += slice.length;
        o.onBytes(slice.length);
        if (!res.write(slice)) await drained(res);
      }
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    // The fd may be closed by the caller once this returns: no read may still be running.
    await ahead?.catch(() => undefined);
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
