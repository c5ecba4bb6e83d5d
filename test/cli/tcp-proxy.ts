/**
 * A TCP proxy between the CLI and the control plane that can misbehave on purpose: cut the
 * connection once a number of request bytes has gone through (a failed part), or stall there (an
 * upload hanging mid-part, to be killed). It counts the request bytes it forwards, which is how a
 * test proves that a resumed upload sent only the missing parts.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Request (client → server) bytes forwarded since the last reset(). */
  readonly upBytes: number;
  /** True once a stall has held back bytes. */
  readonly stalled: boolean;
  /** Forward everything again; counters to zero. */
  reset(): void;
  /** Destroy the connection carrying the byte at `afterBytes` (counted from now), once. */
  cutOnceAfter(afterBytes: number): void;
  /** Forward `afterBytes` more request bytes, then hold everything (sockets stay open). */
  stallAfter(afterBytes: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const t = new URL(target);
  let up = 0;
  let mode: { kind: 'pass' } | { kind: 'cut' | 'stall'; at: number } = { kind: 'pass' };
  let stalled = false;
  const sockets = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (mode.kind === 'stall' && stalled) return; // held back: never forwarded
      if (mode.kind !== 'pass' && up + chunk.length >= mode.at) {
        const keep = Math.max(0, mode.at - up);
        if (keep > 0) upstream.write(chunk.subarray(0, keep));
        up += keep;
        if (mode.kind === 'cut') {
          mode = { kind: 'pass' };
          closeBoth();
        } else {
          stalled = true;
          client.pause();
        }
        return;
      }
      up += chunk.length;
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get upBytes() {
      return up;
    },
    get stalled() {
      return stalled;
    },
    reset() {
      up = 0;
      mode = { kind: 'pass' };
      stalled = false;
    },
    cutOnceAfter(afterBytes) {
      mode = { kind: 'cut', at: up + afterBytes };
    },
    stallAfter(afterBytes) {
      mode = { kind: 'stall', at: up + afterBytes };
      stalled = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
