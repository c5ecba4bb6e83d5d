import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTftpPump } from '../../../../relay/build/native.ts';
import { encodeAck, encodeRequest } from '../../../../relay/src/tftp/codec.ts';
import { firstOf, folderProvider, memoryProvider } from '../../../../relay/src/tftp/content.ts';
import { startTftpPump, type TftpPump } from '../../../../relay/src/tftp/pump.ts';
import { createTftpServer, type TftpEvent, type TftpServer, type TftpServerOptions } from '../../../../relay/src/tftp/server.ts';

/**
 * A temp tree: `<dir>/root` is served, `<dir>/secret` lies beside it (what an escape would leak),
 * plus links out of the root, a directory and a FIFO inside it.
 */
export interface Tree {
  dir: string;
  root: string;
  files: Map<string, Buffer>;
  cleanup(): void;
}

export const SECRET = Buffer.from('outside the root: never served\n');

export function makeTree(sizes: Record<string, number>): Tree {
  const dir = mkdtempSync(join(tmpdir(), 'eb-tftp-'));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'secret'), SECRET);
  const files = new Map<string, Buffer>();
  for (const [name, size] of Object.entries(sizes)) {
    const bytes = randomBytes(size);
    writeFileSync(join(root, name), bytes);
    files.set(name, bytes);
  }
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
  symlinkSync('../secret', join(root, 'escape-relative'));
  symlinkSync(dir, join(root, 'outdir'));
  symlinkSync('/etc/passwd', join(root, 'passwd'));
  symlinkSync('/dev/zero', join(root, 'zero'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  return { dir, root, files, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Running {
  server: TftpServer;
  at: { address: string; port: number };
  events: TftpEvent[];
}

/** Our server on 127.0.0.1, an ephemeral port, memory content first, then the folder. */
export async function startServer(root: string, memory: ReadonlyMap<string, Uint8Array>, extra: Partial<TftpServerOptions> = {}): Promise<Running> {
  const events: TftpEvent[] = [];
  const server = createTftpServer({
    address: '127.0.0.1',
    port: 0,
    content: firstOf(memoryProvider(memory), folderProvider(root)),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const at = await server.listen();
  return { server, at, events };
}

/**
 * The two ways a transfer's blocks leave: `native`, the relay's default (edgeboot-tftp-pump, built
 * here from relay/native/tftp-pump.c), and `node`, the server's own loop (its fallback). The server
 * tests run over both.
 */
export const DATA_PATHS = ['native', 'node'] as const;
export type DataPath = (typeof DATA_PATHS)[number];

let pump: Promise<TftpPump> | undefined;

/** One pump per test file, started on first use. */
export function sharedPump(): Promise<TftpPump> {
  pump ??= startTftpPump(buildTftpPump()).then((p) => {
    if (!p) throw new Error('edgeboot-tftp-pump did not start');
    return p;
  });
  return pump;
}

/** `startServer` over one data path. */
export function serverStarter(path: DataPath) {
  return async (root: string, memory: ReadonlyMap<string, Uint8Array>, extra: Partial<TftpServerOptions> = {}): Promise<Running> =>
    startServer(root, memory, path === 'native' ? { pump: await sharedPump(), ...extra } : extra);
}

/**
 * A client driven by hand: sends an RRQ for `name` from 127.0.0.1, collects every packet that comes
 * back, and resolves once the first has; `send` and `ack` go to the transfer's port (the server's TID).
 */
export async function handClient(at: { address: string; port: number }, name: string) {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  let tid = 0;
  sock.on('message', (m, from) => {
    got.push(m);
    tid = from.port;
  });
  await new Promise<void>((r) => sock.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  sock.send(encodeRequest('rrq', name), at.port, at.address);
  await waitFor(() => got.length > 0);
  const send = (packet: Uint8Array) => sock.send(packet, tid, '127.0.0.1');
  return { got, send, ack: (block: number) => send(encodeAck(block)), close: () => sock.close() };
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
