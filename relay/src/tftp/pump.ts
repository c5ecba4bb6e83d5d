import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from '../log.ts';

/**
 * The relay's side of `edgeboot-tftp-pump` (relay/native/tftp-pump.c), the native TFTP data path:
 * the server (server.ts) decides every transfer and hands the pump its blocks to send, one thread per
 * transfer blocked in recv. At windowsize 1 a transfer's speed is the server's time to answer an ACK,
 * and Node's event loop alone could not reach tftp-hpa's (bench:tftp).
 *
 * One pump per relay, started once. Commands go down its stdin, facts come back on its stdout one
 * line each (the protocol is described in the C file). Bytes served from memory (the iPXE binaries)
 * are sent to the pump once per buffer and forgotten when the buffer is collected; a file is sent by
 * descriptor number, which the pump re-opens through /proc/<relay>/fd, so it serves exactly the file
 * the relay checked. When the pump cannot start or dies, `usable` turns false, transfers under way end
 * as `internal`, and the server goes on with its own data path: slower, never down.
 */

const OUTCOMES = ['done', 'size-probe', 'client-error', 'timeout', 'client-gone', 'socket', 'internal', 'stopped'] as const;
export type PumpOutcome = (typeof OUTCOMES)[number];
const IS_OUTCOME = new Set<string>(OUTCOMES);

export interface PumpCounts {
  acked: number;
  bytesSent: number;
  'duplicate-ack': number;
  'stale-ack': number;
  'unexpected-packet': number;
  malformed: number;
}

export interface PumpTransfer {
  /** Local address and port to send from (the port of the server's own socket for strays). */
  local: string;
  port: number;
  client: string;
  clientPort: number;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  size: number;
  /** The OACK packet to send first, or null. */
  oack: Uint8Array | null;
  /** The content: bytes in memory, or an open file descriptor of this process. */
  source: { bytes: Uint8Array } | { fd: number };
}

export interface PumpHandlers {
  /** The first DATA left. */
  onStart(): void;
  onEnd(outcome: PumpOutcome, counts: PumpCounts): void;
}

export interface TftpPump {
  /** False once the pump failed: the server then serves from Node. */
  readonly usable: boolean;
  /** The pump's process id (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** Starts a transfer; returns its id, to `stop` it. */
  send(t: PumpTransfer, h: PumpHandlers): number;
  stop(id: number): void;
  close(): Promise<void>;
}

/** Bytes under this go with their transfer; larger buffers are sent once and shared. */
const INLINE_MAX = 64 * 1024;

/** Starts the pump at `path`; resolves null (and says why on the log) when it cannot run. */
export async function startTftpPump(path: string, log?: Logger): Promise<TftpPump | null> {
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    log?.warn('tftp native data path unavailable: serving blocks from Node', { path, error: (err as Error).message });
    return null;
  }
  const ready = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve('no "ready" within 5 s'), 5000);
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (code, signal) => resolve(`exited (${signal ?? code}) before it was ready`));
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString('latin1').startsWith('ready\n') ? null : `said ${JSON.stringify(d.toString('latin1').slice(0, 40))}`);
    });
  });
  if (ready !== null) {
    child.kill('SIGKILL');
    log?.warn('tftp native data path unavailable: serving blocks from Node', { path, error: ready });
    return null;
  }
  return pumpOver(child, log);
}

function pumpOver(child: ChildProcessWithoutNullStreams, log?: Logger): TftpPump {
  let usable = true;
  let nextId = 1;
  let nextBlob = 1;
  const handlers = new Map<number, PumpHandlers>();
  const blobs = new WeakMap<Uint8Array, number>();
  // A collected buffer's copy in the pump is dropped too.
  const collected = new FinalizationRegistry<number>((blob) => {
    if (usable) child.stdin.write(`drop ${blob}\n`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  /** Ends every transfer the pump still had. */
  const endAll = (outcome: PumpOutcome) => {
    const left = [...handlers.values()];
    handlers.clear();
    for (const h of left) h.onEnd(outcome, zero());
  };

  const fail = (why: string) => {
    if (!usable) return;
    usable = false;
    log?.error('tftp native data path failed: serving blocks from Node from now on', { error: why });
    endAll('internal');
    child.kill('SIGKILL');
  };

  child.on('error', (err) => fail(err.message));
  child.once('exit', (code, signal) => fail(`the pump exited (${signal ?? code})`));
  child.stdin.on('error', (err) => fail(`its stdin: ${err.message}`));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => log?.once('pump-stderr', 'tftp pump said', { text: s.trim().slice(0, 300) }));

  let pending = '';
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (s: string) => {
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      report(line);
    }
  });

  const report = (line: string) => {
    const f = line.split(' ');
    const id = Number(f[1]);
    const h = handlers.get(id);
    if (f[0] === 'start' && h) return h.onStart();
    if (f[0] === 'end' && h && f.length === 9 && IS_OUTCOME.has(f[2]!)) {
      handlers.delete(id);
      const n = f.slice(3).map(Number);
      return h.onEnd(f[2] as PumpOutcome, { acked: n[0]!, bytesSent: n[1]!, 'duplicate-ack': n[2]!, 'stale-ack': n[3]!, 'unexpected-packet': n[4]!, malformed: n[5]! });
    }
    if (f[0] !== 'ready') log?.once('pump-report', 'tftp pump report not understood', { line: line.slice(0, 120) });
  };

  const blobFor = (bytes: Uint8Array): number => {
    let id = blobs.get(bytes);
    if (id !== undefined) return id;
    id = nextBlob++;
    blobs.set(bytes, id);
    collected.register(bytes, id);
    child.stdin.write(`blob ${id} ${bytes.length}\n`);
    child.stdin.write(bytes);
    return id;
  };

  return {
    get usable() {
      return usable;
    },
    pid: child.pid,
    send(t, h) {
      const id = nextId++;
      if (!usable) {
        // It died between the server's check and this call: the transfer fails, the client's retry
        // is served from Node.
        queueMicrotask(() => h.onEnd('internal', zero()));
        return id;
      }
      handlers.set(id, h);
      let src: string;
      let extra: Uint8Array | null = null;
      if ('fd' in t.source) src = `fd:${t.source.fd}`;
      else if (t.source.bytes.length <= INLINE_MAX) {
        src = 'inline';
        extra = t.source.bytes.subarray(0, t.size);
      } else src = `blob:${blobFor(t.source.bytes)}`;
      const oack = t.oack ?? EMPTY;
      child.stdin.write(
        `send ${id} ${t.local} ${t.port} ${t.client} ${t.clientPort} ${t.blksize} ${t.windowsize} ${t.timeoutMs} ${t.retries} ${t.size} ${src} ${oack.length} ${extra?.length ?? 0}\n`,
      );
      if (oack.length) child.stdin.write(oack);
      if (extra?.length) child.stdin.write(extra);
      return id;
    },
    stop(id) {
      if (usable && handlers.has(id)) child.stdin.write(`stop ${id}\n`);
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        usable = false;
        child.stdin.end();
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(killer);
      }
      endAll('stopped');
    },
  };
}

const EMPTY = new Uint8Array(0);

function zero(): PumpCounts {
  return { acked: 0, bytesSent: 0, 'duplicate-ack': 0, 'stale-ack': 0, 'unexpected-packet': 0, malformed: 0 };
}
