import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, negotiate, Transfer, type TransferAction } from '../../../relay/src/tftp/transfer.ts';

const limits = DEFAULT_LIMITS;
const blocks = (actions: TransferAction[]) => actions.filter((a) => a.type === 'send-data').map((a) => (a as { block: number }).block);

function plain(size: number): Transfer {
  return new Transfer(size, negotiate({}, size, limits), limits);
}
function windowed(size: number, blksize: number, windowsize: number): Transfer {
  const n = negotiate({ blksize, windowsize }, size, limits);
  const t = new Transfer(size, n, limits);
  expect(t.handle({ type: 'start' })[0]!.type).toBe('send-oack');
  return t;
}

describe('TFTP negotiation', () => {
  it('answers only what was asked, capping blksize and windowsize, with the real tsize', () => {
    expect(negotiate({}, 10, limits)).toEqual({ blksize: 512, windowsize: 1, timeoutMs: 1000, oack: null });
    const order: Array<[string, string]> = [['tsize', '0'], ['blksize', '9000'], ['windowsize', '999']];
    expect(negotiate({ tsize: 0, blksize: 9000, windowsize: 999 }, 1234, limits, order)).toEqual({
      blksize: 1468,
      windowsize: 64,
      timeoutMs: 1000,
      oack: [['tsize', '1234'], ['blksize', '1468'], ['windowsize', '64']],
    });
    expect(negotiate({ timeout: 3 }, 1, limits).oack).toEqual([['timeout', '3']]);
    expect(negotiate({ timeout: 3 }, 1, limits).timeoutMs).toBe(3000);
  });
});

describe('TFTP transfer state machine', () => {
  it('sends one block per ACK and finishes on the ACK of the last (short) block', () => {
    const t = plain(1024);
    expect(t.handle({ type: 'start' })).toEqual([{ type: 'send-data', block: 1, offset: 0, length: 512 }]);
    expect(t.handle({ type: 'ack', block: 1 })).toEqual([{ type: 'send-data', block: 2, offset: 512, length: 512 }]);
    // 1024 = 2 × 512: a third, empty block marks the end (RFC 1350 §6).
    expect(t.handle({ type: 'ack', block: 2 })).toEqual([{ type: 'send-data', block: 3, offset: 1024, length: 0 }]);
    expect(t.handle({ type: 'ack', block: 3 })).toEqual([{ type: 'finish' }]);
    expect(t.ended).toBe(true);
  });

  it('never answers a duplicate ACK with data (no Sorcerer’s Apprentice)', () => {
    const t = plain(2000);
    t.handle({ type: 'start' });
    expect(blocks(t.handle({ type: 'ack', block: 1 }))).toEqual([2]);
    expect(t.handle({ type: 'ack', block: 1 })).toEqual([{ type: 'ignore', reason: 'duplicate-ack' }]);
    expect(t.handle({ type: 'ack', block: 1 })).toEqual([{ type: 'ignore', reason: 'duplicate-ack' }]);
    expect(t.handle({ type: 'ack', block: 9 })).toEqual([{ type: 'ignore', reason: 'stale-ack' }]);
    expect(blocks(t.handle({ type: 'ack', block: 2 }))).toEqual([3]);
  });

  it('retransmits on timeout only, and gives up after maxRetries with ERROR 0', () => {
    const t = plain(2000);
    t.handle({ type: 'start' });
    for (let i = 0; i < limits.maxRetries; i++) expect(blocks(t.handle({ type: 'timeout' }))).toEqual([1]);
    expect(t.handle({ type: 'timeout' })).toEqual([{ type: 'abort', reason: 'timeout', error: { code: 0, message: 'Timeout' } }]);
  });

  it('resets the retry budget on progress', () => {
    const t = plain(4000);
    t.handle({ type: 'start' });
    for (let i = 0; i < limits.maxRetries; i++) t.handle({ type: 'timeout' });
    t.handle({ type: 'ack', block: 1 });
    expect(blocks(t.handle({ type: 'timeout' }))).toEqual([2]);
  });

  it('sends windows, moves on the ACK of the last block, and resends from the block after a partial ACK', () => {
    const t = windowed(10 * 100 + 50, 100, 4);
    expect(blocks(t.handle({ type: 'ack', block: 0 }))).toEqual([1, 2, 3, 4]);
    expect(blocks(t.handle({ type: 'ack', block: 4 }))).toEqual([5, 6, 7, 8]);
    // Block 6 was lost: the client ACKs 5; the window restarts at 6.
    expect(blocks(t.handle({ type: 'ack', block: 5 }))).toEqual([6, 7, 8, 9]);
    // The same partial ACK again (the client saw 7 and 8 out of order too) changes nothing.
    expect(t.handle({ type: 'ack', block: 5 })).toEqual([{ type: 'ignore', reason: 'duplicate-ack' }]);
    expect(blocks(t.handle({ type: 'timeout' }))).toEqual([6, 7, 8, 9]);
    expect(blocks(t.handle({ type: 'ack', block: 9 }))).toEqual([10, 11]);
    expect(t.handle({ type: 'ack', block: 11 })).toEqual([{ type: 'finish' }]);
  });

  it('rolls block numbers over from 65535 to 0 and maps ACKs across the wrap', () => {
    const t = windowed(70_000 * 8, 8, 4);
    expect(blocks(t.handle({ type: 'ack', block: 0 }))).toEqual([1, 2, 3, 4]);
    for (let last = 4; last < 65532; last += 4) t.handle({ type: 'ack', block: last });
    const next = t.handle({ type: 'ack', block: 65532 });
    expect(blocks(next)).toEqual([65533, 65534, 65535, 0]);
    expect(blocks(t.handle({ type: 'ack', block: 0 }))).toEqual([1, 2, 3, 4]);
    expect(t.progress.acked).toBe(65536);
    expect(t.handle({ type: 'ack', block: 0 })).toEqual([{ type: 'ignore', reason: 'duplicate-ack' }]);
  });

  it('treats an ERROR answering the OACK as a size probe, later ERRORs as client aborts', () => {
    const probe = windowed(5000, 1468, 4);
    expect(probe.handle({ type: 'error', code: 8, message: 'probe' })).toEqual([{ type: 'abort', reason: 'size-probe' }]);
    const abort = windowed(5000, 1468, 4);
    abort.handle({ type: 'ack', block: 0 });
    expect(abort.handle({ type: 'error', code: 0, message: 'user' })).toEqual([{ type: 'abort', reason: 'client-error' }]);
    expect(abort.handle({ type: 'ack', block: 1 })).toEqual([{ type: 'ignore', reason: 'after-end' }]);
  });

  it('resends the OACK on timeout and ignores a non-zero ACK while waiting for ACK 0', () => {
    const t = windowed(5000, 1468, 4);
    expect(t.handle({ type: 'ack', block: 3 })).toEqual([{ type: 'ignore', reason: 'stale-ack' }]);
    expect(t.handle({ type: 'timeout' })).toEqual([{ type: 'send-oack', options: [['blksize', '1468'], ['windowsize', '4']] }]);
  });

  it('rejects a foreign sender without disturbing the transfer', () => {
    const t = plain(600);
    t.handle({ type: 'start' });
    expect(t.handle({ type: 'foreign' })).toEqual([{ type: 'reject-foreign', code: 5, message: 'Unknown transfer ID' }]);
    expect(t.handle({ type: 'unexpected' })).toEqual([{ type: 'ignore', reason: 'unexpected-packet' }]);
    expect(blocks(t.handle({ type: 'ack', block: 1 }))).toEqual([2]);
  });

  it('serves an empty file as one empty block', () => {
    const t = plain(0);
    expect(t.handle({ type: 'start' })).toEqual([{ type: 'send-data', block: 1, offset: 0, length: 0 }]);
    expect(t.handle({ type: 'ack', block: 1 })).toEqual([{ type: 'finish' }]);
  });
});
