#!/usr/bin/env node
/**
 * edgeboot-relay: the composition root and CLI.
 *
 *   edgeboot-relay enroll --cloud URL --code CODE [--state-dir DIR] [--name NAME]
 *   edgeboot-relay run --config relay.toml [--http-port N --public-url URL … (config.ts FLAGS)]
 *
 * (the commands themselves, their usage, errors and exit statuses: cli/commands.ts)
 *
 * The only file that chooses adapters and starts servers. DHCP and TFTP are attached through
 * `lanServices` (see LanServiceFactory): they get the snapshot, the nonce registry, the event sink
 * and the metrics registry from here, and are closed with the rest on SIGTERM.
 */
import './runtime-guard.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { normalizeMac } from '../../shared/mac.ts';
import { BUILD_BOOT_FILES, DEFAULT_BOOT_FILES_DIR, type RelayConfig } from './config.ts';
import { FileGrants } from './http/file-grants.ts';
import { ImageCache } from './http/image-cache.ts';
import { MetricsRegistry } from './http/metrics.ts';
import { NonceRegistry } from './http/nonces.ts';
import { ScriptProxy } from './http/script-proxy.ts';
import { createHttpServer, type Health } from './http/server.ts';
import { AddressBook } from './dhcp/address-book.ts';
import { scriptUrl } from './dhcp/boot-target.ts';
import { dhcpService, type DhcpServiceOptions } from './dhcp/service.ts';
import { createLogger, type Logger } from './log.ts';
import { inSubnet, ipToInt, isIpv4 } from './dhcp/ipv4.ts';
import { lanSummary, type ServedLan } from './lan/lans.ts';
import { startRouterAdvertisements } from './ra/radvd.ts';
import { createCloudClient, type CloudClient } from './sync/cloud-client.ts';
import { ensureStateDir, grantKey, type Credentials } from './sync/credentials.ts';
import { EventFold } from './sync/event-fold.ts';
import { EventQueue } from './sync/event-queue.ts';
import { startHeartbeat } from './sync/heartbeat.ts';
import { SnapshotStore } from './sync/snapshot-store.ts';
import { SyncClient } from './sync/sync-client.ts';
import { LoaderFiles } from './sync/loader-files.ts';
import { ChainWatch, signedChainProvider, signedChainTarget } from './secure-boot/chain.ts';
import { bootFileContent } from './tftp/content.ts';
import { MEMORY_BOOT_FILES, tftpService } from './tftp/service.ts';

import { startPowerJobs, type PowerJobsOptions } from './jobs/start.ts';
import type { PowerJobRunner } from './jobs/runner.ts';
import { VERSION } from './version.ts';
import { startMemoryRelease } from './memory-release.ts';
import type { LanService, LanServiceFactory, RelayContext } from './lan/context.ts';

export type { LanService, LanServiceFactory, RelayContext } from './lan/context.ts';
import { runCli } from './cli/commands.ts';

/** A client of the cloud with the relay's own credentials and `[cloud]` settings (URL, timeout, CA). */
export function relayCloudClient(config: RelayConfig, credentials: Credentials, opts: { connections?: number } = {}): CloudClient {
  return createCloudClient({
    baseUrl: config.cloud.url ?? credentials.cloudUrl,
    token: credentials.token,
    connectTimeoutMs: config.cloud.connect_timeout_ms,
    ca: config.cloud.ca_file ? readFileSync(config.cloud.ca_file, 'utf8') : undefined,
    userAgent: `edgeboot-relay/${VERSION}`,
    ...opts,
  });
}

export interface Relay {
  httpUrl: string;
  context: RelayContext;
  queue: EventQueue;
  cache: ImageCache;
  sync: SyncClient;
  /** Power jobs against the site's BMCs (jobs/runner.ts). */
  powerJobs: PowerJobRunner;
  close(): Promise<void>;
}

export async function startRelay(
  config: RelayConfig,
  credentials: Credentials,
  opts: { log?: Logger; lanServices?: LanServiceFactory[]; powerJobs?: PowerJobsOptions; lans?: ServedLan[] } = {},
): Promise<Relay> {
  const log = opts.log ?? createLogger({ component: 'relay', quiet: config.log.quiet });
  // Several LANs: each has its own URL for iPXE; a request is answered with the URL of the LAN whose
  // relay address it came to, a TFTP client with that of the LAN its address is on.
  const lans = opts.lans ?? [];
  const baseUrlFor = (localAddress: string) => lans.find((l) => l.serverIp === localAddress)?.publicUrl ?? config.http.public_url;
  const httpBaseFor = (clientAddress: string) => (isIpv4(clientAddress) ? lans.find((l) => inSubnet(ipToInt(clientAddress), l.subnet))?.publicUrl : undefined) ?? config.http.public_url;
  ensureStateDir(config.state_dir);
  const metrics = new MetricsRegistry();
  const client = relayCloudClient(config, credentials);
  const snapshot = new SnapshotStore(join(config.state_dir, 'snapshot.json'), log.child('sync'));
  const sync = new SyncClient({ client, store: snapshot, log: log.child('sync'), waitSeconds: config.sync.wait_seconds });
  const queue = new EventQueue({ dir: join(config.state_dir, 'events'), client, log: log.child('events'), maxBytes: config.events.max_bytes, fsyncIntervalMs: config.events.fsync_interval_ms });
  // Every server reports through the fold: a machine's repeated DHCP exchanges become one event and a count.
  const events = new EventFold({ sink: queue, windowMs: config.events.repeat_window_seconds * 1000 });
  const nonces = new NonceRegistry();
  const grants = new FileGrants(grantKey(config.state_dir));
  const cache = new ImageCache({ dir: config.cache.dir!, client, log: log.child('cache'), metrics, maxBytes: config.cache.max_bytes, memoryBytes: config.cache.memory_bytes });
  const loaders = new LoaderFiles({ client, cache, log: log.child('loaders') });
  const chainWatch = new ChainWatch();
  const scripts = new ScriptProxy({ client, nonces, grants, cache, events, log: log.child('boot'), metrics, baseUrl: config.http.public_url, ...(lans.length > 1 ? { baseUrlFor } : {}), dir: join(config.state_dir, 'scripts') });

  const syncAge = () => (snapshot.confirmedAt === null ? null : (Date.now() - snapshot.confirmedAt) / 1000);
  metrics.gauge('edgeboot_relay_sync_age_seconds', 'seconds since the cloud last confirmed the snapshot (-1: never in this run)', () => syncAge() ?? -1);
  metrics.gauge('edgeboot_relay_snapshots_installed', 'snapshots installed in this run: whole (full or paged) or from a delta against the one held', () => [
    [{ how: 'full' }, sync.syncs - sync.deltas],
    [{ how: 'delta' }, sync.deltas],
  ]);
  metrics.gauge('edgeboot_relay_sync_full_refetches', 'whole snapshots asked for in this run because a delta could not be applied or did not hash to its version', () => sync.fullRefetches);
  metrics.gauge('edgeboot_relay_snapshot_machines', 'machines in the held snapshot', () => snapshot.snapshot?.machines.length ?? 0);
  metrics.gauge('edgeboot_relay_event_queue_depth', 'events on disk not yet acknowledged by the cloud', () => queue.depth);
  metrics.gauge('edgeboot_relay_events_dropped', 'events dropped (disk cap, refused by the cloud, invalid)', () => [
    [{ reason: 'disk-cap' }, queue.dropped],
    [{ reason: 'refused' }, queue.rejected],
    [{ reason: 'invalid' }, queue.invalid],
  ]);
  metrics.gauge('edgeboot_relay_events_shipped', 'events acknowledged by the cloud in this run', () => queue.shipped);
  metrics.gauge('edgeboot_relay_event_fold', "what the fold did with boot events in this run: passed on as they came, retransmitted (a DHCP request sent again within 2 s: not counted), folded (a machine's repeated DHCP exchange counted into a run), summaries (runs passed on as one event)", () => Object.entries(events.counts).map(([outcome, n]) => [{ outcome }, n]));
  metrics.gauge('edgeboot_relay_events_coalesced', 'repeated DHCP stages of one MAC shipped as one event (with a repeat count) in this run', () => queue.coalesced);
  metrics.gauge('process_resident_memory_bytes', 'resident memory of the relay process', () => process.memoryUsage.rss());
  metrics.gauge('edgeboot_relay_cloud_reachable', '1 when the last cloud request got an answer', () => (client.reachable ? 1 : 0));

  const health = (): Health => ({
    ok: snapshot.snapshot !== null,
    relayId: credentials.relayId,
    snapshotVersion: snapshot.snapshot?.version ?? null,
    syncAgeSeconds: syncAge(),
    queueDepth: queue.depth,
    cloudReachable: client.reachable && sync.failures === 0,
  });
  const bootFiles = bootFileContent(config.boot_files, MEMORY_BOOT_FILES);
  if (bootFiles.folderError && config.boot_files === DEFAULT_BOOT_FILES_DIR) {
    // The default folder is a build product: a relay without it answers PXE clients with files it cannot send.
    log.error('the relay\'s own iPXE binaries are missing: no PXE client can boot', { dir: config.boot_files, error: bootFiles.folderError, fix: BUILD_BOOT_FILES });
  } else if (bootFiles.folderError) {
    log.warn('the boot_files folder cannot be served', { dir: config.boot_files, error: bootFiles.folderError });
  }
  const server = createHttpServer({ scripts, cache, grants, client, events, metrics, log: log.child('http'), health, bootFiles: bootFiles.provider, baseUrl: config.http.public_url });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  snapshot.onInstall((s) => loaders.update(s));
  sync.start();
  queue.start();
  const stopHeartbeat = startHeartbeat(client, log.child('heartbeat'), { version: VERSION, ...addressOf(config.http.public_url), ...(lans.length ? { lans: lanSummary(lans) } : {}) });
  metrics.gauge('edgeboot_relay_conflicts', "the site's other relays whose LANs collide with this one's, as the cloud last said", () => stopHeartbeat.conflicts().length);
  // Router advertisements where a LAN asks for them (ra = true): iPXE stops waiting for IPv6 at the first one.
  const raLans = lans.filter((l) => l.spec.ra && l.interface).map((l) => ({ name: l.interface!, prefix: l.spec.ra_prefix ?? null }));
  const ra = raLans.length ? await startRouterAdvertisements({ interfaces: raLans, stateDir: config.state_dir, log: log.child('ra') }) : null;
  const powerJobs = await startPowerJobs({ client, stateDir: config.state_dir, relayId: credentials.relayId, log: log.child('bmc'), ...opts.powerJobs });

  const context: RelayContext = {
    config,
    log,
    snapshot,
    nonces,
    scriptUrl: (mac, ip, archCode) => scriptUrl(config.http.public_url, { mac: normalizeMac(mac) ?? mac, arch: archCode, nonce: nonces.issue(mac, ip) }),
    events,
    metrics,
    credentials,
    bootFiles,
    signedChain: {
      target: (mac, firmware) => {
        if (chainWatch.refusedShim(mac)) {
          events.emit({ mac, stage: 'loader-failed', detail: { loader: 'shim', reason: 'shim-refused', note: 'the firmware fetched shim and asked for another boot without loading GRUB: with Secure Boot on it refused shim (not signed by a key in its db)' } });
        }
        const l = firmware ? snapshot.loaderFor(mac) : null;
        if (!l) return null;
        const t = signedChainTarget(l, cache);
        // Not on disk (evicted by the cache's size bound, or a fetch that failed): fetch again; the
        // firmware's retry finds them.
        if (!t.ok) loaders.refetch();
        return t;
      },
      provider: (macFor) =>
        signedChainProvider({
          localObject: (id) => cache.localObject(id),
          macFor,
          issueNonce: (mac, ip) => nonces.issue(mac, ip),
          httpBase: config.http.public_url,
          ...(lans.length > 1 ? { httpBaseFor } : {}),
          watch: chainWatch,
          grubStarting: (ip) => server.resetClient(ip),
        }),
    },
  };
  // LAN servers (DHCP, TFTP), chosen by the caller (run() below: both); they decide only from `context`.
  const lan: LanService[] = [];
  for (const start of opts.lanServices ?? []) lan.push(await start(context));
  // A storm leaves freed memory resident (V8's garbage, glibc's free chunks): given back once quiet.
  const stopMemoryRelease = startMemoryRelease({ stateDir: config.state_dir, log: log.child('memory'), metrics });

  let closed: Promise<void> | undefined;
  return {
    httpUrl: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    context,
    queue,
    cache,
    sync,
    powerJobs: powerJobs.runner,
    close: () =>
      (closed ??= (async () => {
        stopMemoryRelease();
        for (const s of lan.reverse()) await s.close().catch((err: unknown) => log.error('a LAN service failed to close', { err }));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        loaders.stop();
        // After every server that reports: runs still counting go to the queue before it stops.
        events.close();
        await Promise.all([sync.stop().then(() => snapshot.saved()), queue.stop(), stopHeartbeat(), loaders.idle(), powerJobs.close(), ra?.close()]);
        queue.close();
        await cache.close();
        await client.close();
      })()),
  };
}

/** DHCP and TFTP, sharing what DHCP learns of which MAC holds which address (for TFTP's boot events). */
export function defaultLanServices(o: Omit<DhcpServiceOptions, 'addresses'> = {}): LanServiceFactory[] {
  const addresses = new AddressBook();
  return [dhcpService({ addresses, ...o }), tftpService({ macFor: (ip) => addresses.macFor(ip) })];
}

function addressOf(url: string): { address?: string } {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return /^[0-9a-fA-F:.]+$/.test(host) ? { address: host } : {};
}

if (import.meta.main) {
  runCli(process.argv.slice(2)).then((status) => {
    if (status !== null) process.exit(status);
  });
}
