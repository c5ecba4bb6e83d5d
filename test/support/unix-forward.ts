/**
 * Forwards TCP connections to a unix socket:
 *
 *   node test/support/unix-forward.ts <listen-host>:<port> <unix-socket-path>
 *
 * Started inside a test namespace, it lets a relay there reach a test cloud listening on a unix socket
 * in the vitest process: unix sockets are filesystem objects, so they cross network namespaces where
 * TCP cannot. Prints `listening <host>:<port>` once ready (port 0 picks one and prints it).
 *
 * When the unix socket refuses (the cloud stopped) or fails mid-stream, the TCP client gets a reset,
 * not a clean close: that is what a WAN cut looks like to the relay.
 */
import { connect, createServer, type Server } from 'node:net';

export function forward(host: string, port: number, socketPath: string): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    // Bytes the client sends before the unix connection opens wait in the upstream socket's buffer.
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on('error', () => client.resetAndDestroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function parseListen(s: string | undefined): { host: string; port: number } {
  const at = s?.lastIndexOf(':') ?? -1;
  const port = Number(s?.slice(at + 1));
  if (!s || at < 1 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error('usage: unix-forward.ts <listen-host>:<port> <unix-socket-path>');
  return { host: s.slice(0, at), port };
}

if (import.meta.main) {
  const { host, port } = parseListen(process.argv[2]);
  const path = process.argv[3];
  if (!path) throw new Error('usage: unix-forward.ts <listen-host>:<port> <unix-socket-path>');
  const server = await forward(host, port, path);
  const bound = server.address();
  console.log(`listening ${host}:${typeof bound === 'object' && bound ? bound.port : port}`);
}
