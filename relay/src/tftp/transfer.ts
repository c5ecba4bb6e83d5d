import { ERROR_CODE, type RequestOptions } from './codec.ts';

/**
 * One read transfer as a state machine: events in, actions out. No sockets, no clock: the server
 * (server.ts) owns the socket and the retransmit timer and feeds `timeout` when the timer fires.
 *
 * Rules it encodes:
 * - Retransmit ONLY on timeout. A duplicate ACK is ignored, never answered with data: answering
 *   it would double every later block (the Sorcerer's Apprentice bug, RFC 1123 §4.2.3.1).
 * - Windows (RFC 7440): send up to `windowsize` blocks, then wait. An ACK of any block in the
 *   window moves the window to the block after it, so a partial ACK (the client saw a gap) resends
 *   from the first block it lacks; the ACK of the block before the window is a duplicate.
 * - Block numbers are 16 bits on the wire and roll over from 65535 to 0 (not 1), as tftp-hpa,
 *   dnsmasq, curl and atftp do (RFC 1350 says nothing; RFC 2347/2348 practice). Internally blocks are
 *   counted without limit and an ACK is mapped to the one block of the current window with its
 *   16-bit number, which is unambiguous because a window is at most 65535 blocks.
 * - A client that answers the OACK with an ERROR was probing the size (UEFI PXE does this: RRQ
 *   with tsize, OACK, ERROR 8, then the real RRQ): the transfer ends quietly, not as a failure.
 */

export interface TransferLimits {
  /** Cap on a negotiated blksize; 1468 fits an Ethernet frame (1500 − 20 IP − 8 UDP − 4 TFTP). */
  maxBlksize: number;
  maxWindowsize: number;
  /** Retransmit timeout when the client negotiates none. */
  defaultTimeoutMs: number;
  /** Timeouts in a row without progress before the transfer is abandoned. */
  maxRetries: number;
}

export const DEFAULT_LIMITS: TransferLimits = { maxBlksize: 1468, maxWindowsize: 64, defaultTimeoutMs: 1000, maxRetries: 5 };

export interface Negotiation {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Answered options in the client's order; null when the client asked for nothing we accept. */
  oack: Array<[string, string]> | null;
}

/** RFC 2347: answer only the options the client asked for, each with the value the server accepts. */
export function negotiate(asked: RequestOptions, size: number, limits: TransferLimits, order: ReadonlyArray<readonly [string, string]> = []): Negotiation {
  const answered = new Map<string, string>();
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs = limits.defaultTimeoutMs;
  if (asked.blksize !== undefined) {
    blksize = Math.min(asked.blksize, limits.maxBlksize);
    answered.set('blksize', String(blksize));
  }
  if (asked.windowsize !== undefined) {
    windowsize = Math.min(asked.windowsize, limits.maxWindowsize);
    answered.set('windowsize', String(windowsize));
  }
  if (asked.timeout !== undefined) {
    timeoutMs = asked.timeout * 1000;
    answered.set('timeout', String(asked.timeout));
  }
  // An empty file's tsize is left out: curl rejects `tsize 0` in an OACK as invalid (and so fails on
  // tftp-hpa too); RFC 2347 lets a server omit any option, and the client then learns the size by
  // the transfer itself.
  if (asked.tsize !== undefined && size > 0) answered.set('tsize', String(size));
  if (answered.size === 0) return { blksize, windowsize, timeoutMs, oack: null };
  const oack: Array<[string, string]> = [];
  for (const [name] of order) {
    const v = answered.get(name);
    if (v !== undefined && !oack.some(([n]) => n === name)) oack.push([name, v]);
  }
  for (const [name, v] of answered) if (!oack.some(([n]) => n === name)) oack.push([name, v]);
  return { blksize, windowsize, timeoutMs, oack };
}

export type TransferEvent =
  | { type: 'start' }
  | { type: 'ack'; block: number }
  | { type: 'error'; code: number; message: string }
  | { type: 'timeout' }
  /** Any packet on the transfer's port from another address or port (RFC 1350 §4). */
  | { type: 'foreign' }
  /** A packet from the client that has no place in a read transfer (DATA, OACK, a request). */
  | { type: 'unexpected' };

export type AbortReason = 'size-probe' | 'client-error' | 'timeout';
export type IgnoreReason = 'duplicate-ack' | 'stale-ack' | 'unexpected-packet' | 'after-end';

export type TransferAction =
  | { type: 'send-oack'; options: Array<[string, string]> }
  /** `block` is the 16-bit wire number; `offset`/`length` locate the payload in the content. */
  | { type: 'send-data'; block: number; offset: number; length: number }
  | { type: 'finish' }
  | { type: 'abort'; reason: AbortReason; error?: { code: number; message: string } }
  /** Answer the foreign sender (not the client) and carry on. */
  | { type: 'reject-foreign'; code: number; message: string }
  | { type: 'ignore'; reason: IgnoreReason };

type State = 'new' | 'oack' | 'data' | 'ended';

export class Transfer {
  readonly size: number;
  readonly blksize: number;
  readonly windowsize: number;
  readonly timeoutMs: number;
  readonly #oack: Array<[string, string]> | null;
  readonly #maxRetries: number;
  /** Number of DATA blocks, the last one shorter than blksize (possibly empty). */
  readonly #total: number;
  #state: State = 'new';
  /** First block not yet acknowledged (1-based, unbounded). */
  #base = 1;
  /** Last block sent. */
  #sent = 0;
  #retries = 0;

  constructor(size: number, negotiation: Negotiation, limits: Pick<TransferLimits, 'maxRetries'>) {
    this.size = size;
    this.blksize = negotiation.blksize;
    this.windowsize = negotiation.windowsize;
    this.timeoutMs = negotiation.timeoutMs;
    this.#oack = negotiation.oack;
    this.#maxRetries = limits.maxRetries;
    this.#total = Math.floor(size / this.blksize) + 1;
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** Blocks the transfer has in all, and how many the client has acknowledged. */
  get progress(): { blocks: number; acked: number } {
    return { blocks: this.#total, acked: this.#base - 1 };
  }

  handle(e: TransferEvent): TransferAction[] {
    if (e.type === 'foreign') return [{ type: 'reject-foreign', code: ERROR_CODE.UNKNOWN_TID, message: 'Unknown transfer ID' }];
    if (this.#state === 'ended') return [{ type: 'ignore', reason: 'after-end' }];
    switch (e.type) {
      case 'start':
        if (this.#state !== 'new') return [{ type: 'ignore', reason: 'unexpected-packet' }];
        if (this.#oack) {
          this.#state = 'oack';
          return [{ type: 'send-oack', options: this.#oack }];
        }
        this.#state = 'data';
        return this.#window(1);
      case 'ack':
        return this.#ack(e.block);
      case 'error':
      {
        const probe = this.#state === 'oack';
        this.#state = 'ended';
        return [{ type: 'abort', reason: probe ? 'size-probe' : 'client-error' }];
      }
      case 'timeout':
        if (this.#state === 'new') return [];
        if (++this.#retries > this.#maxRetries) {
          this.#state = 'ended';
          return [{ type: 'abort', reason: 'timeout', error: { code: ERROR_CODE.UNDEFINED, message: 'Timeout' } }];
        }
        return this.#state === 'oack' ? [{ type: 'send-oack', options: this.#oack! }] : this.#window(this.#base);
      case 'unexpected':
        return [{ type: 'ignore', reason: 'unexpected-packet' }];
    }
  }

  #ack(wire: number): TransferAction[] {
    if (this.#state === 'oack') {
      if (wire !== 0) return [{ type: 'ignore', reason: 'stale-ack' }];
      this.#state = 'data';
      this.#retries = 0;
      return this.#window(1);
    }
    if (this.#state !== 'data') return [{ type: 'ignore', reason: 'unexpected-packet' }];
    const before = this.#base - 1;
    const k = before + ((wire - before) & 0xffff);
    if (k === before) return [{ type: 'ignore', reason: 'duplicate-ack' }];
    if (k > this.#sent) return [{ type: 'ignore', reason: 'stale-ack' }];
    this.#base = k + 1;
    this.#retries = 0;
    if (k === this.#total) {
      this.#state = 'ended';
      return [{ type: 'finish' }];
    }
    return this.#window(k + 1);
  }

  #window(from: number): TransferAction[] {
    const last = Math.min(from + this.windowsize - 1, this.#total);
    const out: TransferAction[] = [];
    for (let b = from; b <= last; b++) {
      const offset = (b - 1) * this.blksize;
      out.push({ type: 'send-data', block: b & 0xffff, offset, length: Math.min(this.blksize, this.size - offset) });
    }
    if (last > this.#sent) this.#sent = last;
    return out;
  }
}
