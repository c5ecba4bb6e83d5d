/**
 * The relay's DHCP server alone, for test/bench/dhcp.ts: built by `dhcpService()` exactly as the relay
 * builds it (relay/src/main.ts), with no cloud, no HTTP and no TFTP. Run inside the server namespace:
 *
 *   ip netns exec <ns> node test/bench/support/dhcp-relay.ts --mode proxy|dhcp --state-dir DIR [--range FIRST,LAST]
 *     [--interface eth0] [--public-url http://<the interface's IPv4>:8080]
 *
 * What differs from a real relay:
 *   - the snapshot is a local one (`unknownMachines.netboot = true`) installed with `replace()` instead of
 *     synced: the DHCP loop reads it from memory in both cases;
 *   - events go to `{ emit() {} }`, not the real EventQueue, whose `emit` validates each event (zod), gives
 *     it an id, serialises it and writes it at the end of the loop turn (fsync on a timer). The server's
 *     per-MAC de-duplication still runs; that per-event cost does not, so the figures flatter the relay by it;
 *   - the credentials are a dummy (only `chaining = "direct"` reads them; the default is via-relay).
 *
 * Prints `ready` once listening; on SIGTERM prints `stats {…}` (the server's counters, JSON) and exits.
 */
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { base64url } from '../../../shared/crypto/base64url.ts';
import { RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import { loadConfig } from '../../../relay/src/config.ts';
import { dhcpService } from '../../../relay/src/dhcp/service.ts';
import type { EventSink } from '../../../relay/src/events.ts';
import { MetricsRegistry } from '../../../relay/src/http/metrics.ts';
import { NonceRegistry } from '../../../relay/src/http/nonces.ts';
import { createLogger } from '../../../relay/src/log.ts';
import { ensureStateDir, type Credentials } from '../../../relay/src/sync/credentials.ts';
import { SnapshotStore } from '../../../relay/src/sync/snapshot-store.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'proxy' },
    'state-dir': { type: 'string' },
    interface: { type: 'string', default: 'eth0' },
    'public-url': { type: 'string' },
    range: { type: 'string' },
  },
});
const mode = values.mode === 'dhcp' ? 'dhcp' : 'proxy';
const stateDir = values['state-dir'];
const ifaceIp = networkInterfaces()[values.interface!]?.find((a) => a.family === 'IPv4')?.address;
const publicUrl = values['public-url'] ?? (ifaceIp ? `http://${ifaceIp}:8080` : undefined);
if (!stateDir || !publicUrl || (mode === 'dhcp' && !values.range)) {
  console.error('usage: dhcp-relay.ts --mode proxy|dhcp --state-dir DIR [--range FIRST,LAST] [--interface eth0] [--public-url URL]');
  process.exit(2);
}

ensureStateDir(stateDir);
const config = loadConfig(null, { 'state-dir': stateDir, 'public-url': publicUrl, mode, interface: values.interface! });
if (mode === 'dhcp') {
  const [first, last] = values.range!.split(',') as [string, string];
  config.dhcp = { ...config.dhcp, range: [first, last], lease_seconds: 3600 };
}
const log = createLogger({ quiet: true });
const snapshot = new SnapshotStore(join(stateDir, 'snapshot.json'), log);
snapshot.replace(RelaySnapshot.parse({ version: 'bench', siteId: 'site_bench', unknownMachines: { netboot: true }, machines: [] }));
const events: EventSink = { emit() {} };
const credentials: Credentials = {
  cloudUrl: 'http://127.0.0.1:9',
  relayId: 'relay_bench',
  siteId: 'site_bench',
  token: 'bench',
  bootKey: base64url(randomBytes(32)),
  bootKeyId: 'bench',
  enrolledAt: new Date().toISOString(),
};

const service = await dhcpService()({ config, log, events, metrics: new MetricsRegistry(), snapshot, nonces: new NonceRegistry(), credentials });
console.log(`ready ${JSON.stringify({ mode, serverIp: service.lans[0]!.serverIp, port: service.port, proxyPort: service.proxyPort })}`);

process.once('SIGTERM', () => {
  const stats = service.server.stats();
  service.close().then(
    () => {
      process.stdout.write(`stats ${JSON.stringify(stats)}\n`, () => process.exit(0));
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
