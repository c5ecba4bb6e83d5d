/**
 * Our TFTP server alone in its own process for `bench:tftp`, so it does not share an event loop with
 * the benchmark driver: `node our-server.ts <root> <port> [native|node]`; prints `ready <port> [<pump pid>]`
 * and runs until killed. `native` (what the relay ships) has its blocks sent by edgeboot-tftp-pump.
 * Limits are raised because the 200-client run comes from one address (127.0.0.1).
 */
import { folderProvider } from '../../../relay/src/tftp/content.ts';
import { buildTftpPump } from '../../../relay/build/native.ts';
import { startTftpPump } from '../../../relay/src/tftp/pump.ts';
import { createTftpServer } from '../../../relay/src/tftp/server.ts';

const [root, port, dataPath] = process.argv.slice(2);
// Built (or found up to date) as the tests do, so the benchmark runs from a fresh clone.
const pump = dataPath === 'native' ? await startTftpPump(buildTftpPump()) : null;
if (dataPath === 'native' && !pump) throw new Error('the native data path did not start');
const server = createTftpServer({
  ...(pump ? { pump } : {}),
  address: '127.0.0.1',
  port: Number(port ?? 0),
  content: folderProvider(root!),
  maxTransfers: 1024,
  maxPerClient: 1024,
  limits: { maxBlksize: 65464 },
});
const at = await server.listen();
process.stdout.write(`ready ${at.port} ${pump?.pid ?? ''}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ ...server.stats(), rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) })}\n`);
  process.exit(0);
});
