import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST as the receiver got it. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The receiver's clock when it arrived (seconds), for the replay-window check. */
  atSeconds: number;
}

/**
 * A real HTTP receiver on 127.0.0.1 (port chosen by the OS). Each path answers as `behave` says;
 * by default 204. Tests read what arrived and change behaviour per path while running.
 */
export async function startReceiver(behave: (path: string, count: number, res: ServerResponse) => void = (_p, _n, res) => void res.writeHead(204).end()) {
  const received: Received[] = [];
  const held = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), atSeconds: Math.floor(Date.now() / 1000) });
      held.add(res);
      res.on('close', () => held.delete(res));
      behave(path, received.filter((r) => r.path === path).length, res);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** Waits for a condition (never a fixed sleep); the message says what did not happen. */
export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
