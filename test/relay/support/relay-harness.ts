/** Starting the relay in this process against a test cloud, and plain HTTP gets from chosen source addresses. */
import { request } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type FLAGS } from '../../../relay/src/config.ts';
import { createLogger } from '../../../relay/src/log.ts';
import { startRelay, type Relay } from '../../../relay/src/main.ts';
import type { Credentials } from '../../../relay/src/sync/credentials.ts';

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `edgeboot-${name}-`));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface RelayUnderTest extends Relay {
  port: number;
  stateDir: string;
  logs: string[];
}

/** A relay with its HTTP server on 127.0.0.1:`port` (a fixed port survives a restart). */
export async function startTestRelay(
  creds: Credentials,
  opts: { stateDir?: string; port?: number; flags?: Partial<Record<keyof typeof FLAGS, string>> } = {},
): Promise<RelayUnderTest> {
  const stateDir = opts.stateDir ?? tempDir('relay');
  const port = opts.port ?? (await freePort());
  const config = loadConfig(null, { 'state-dir': stateDir, 'http-listen': '127.0.0.1', 'http-port': String(port), 'public-url': `http://127.0.0.1:${port}`, ...opts.flags });
  config.sync.wait_seconds = 5;
  const logs: string[] = [];
  const relay = await startRelay(config, creds, { log: createLogger({ component: 'relay', write: (l) => void logs.push(l) }) });
  return Object.assign(relay, { port, stateDir, logs });
}

export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** False when the connection ended before the announced length. */
  complete: boolean;
}

export function get(url: string, opts: { localAddress?: string; headers?: Record<string, string>; method?: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let complete = true;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (complete = false));
      res.on('error', () => (complete = false));
      res.on('close', () => {
        const body = Buffer.concat(chunks);
        const len = res.headers['content-length'];
        if (len !== undefined && opts.method !== 'HEAD' && Number(len) !== body.length) complete = false;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, complete });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A JSON file a running relay writes in its state directory (snapshot.json, cache/sources.json), or
 * null while it has not written it yet: the relay saves off its event loop, after it installs.
 */
export function relayStateFile<T = any>(stateDir: string, name: string): T | null {
  try {
    return JSON.parse(readFileSync(join(stateDir, name), 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The machine's entry in the snapshot the relay has saved (what it answers from after a restart). */
export function savedMachine(stateDir: string, mac: string): any {
  return relayStateFile<{ snapshot: { machines: Array<{ mac: string }> } }>(stateDir, 'snapshot.json')?.snapshot.machines.find((m) => m.mac === mac);
}

export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
