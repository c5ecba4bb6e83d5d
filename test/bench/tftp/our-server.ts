/**
 * Our TFTP server alone in its own process for `bench:tftp`, so it does not share an event loop with
 * the benchmark driver: `node our-server.ts <root> <port>`; prints `ready <port>` and runs until killed.
 * Limits are raised because the 200-client run comes from one address (127.0.0.1).
 */
import { folderProvider } from '../../../relay/src/tftp/content.ts';
import { createTftpServer } from '../../../relay/src/tftp/server.ts';

const [root, port] = process.argv.slice(2);
const server = createTftpServer({
  address: '127.0.0.1',
  port: Number(port ?? 0),
  content: folderProvider(root!),
  maxTransfers: 1024,
  maxPerClient: 1024,
  limits: { maxBlksize: 65464 },
});
const at = await server.listen();
process.stdout.write(`ready ${at.port}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ ...server.stats(), rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) })}\n`);
  process.exit(0);
});
