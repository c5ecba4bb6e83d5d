import { isIpv4 } from '../dhcp/ipv4.ts';
import { DEFAULT_BOOT_FILES, SNP_ONLY_FILE } from '../dhcp/boot-target.ts';
import type { LanService, RelayContext } from '../lan/context.ts';
import { bootFileContent, firstOf } from './content.ts';
import { pumpBinary } from './pump-binary.ts';
import { startTftpPump, type TftpPump } from './pump.ts';
import { createTftpServer, type TftpServer } from './server.ts';

/**
 * The TFTP server as a LAN service of the relay (main.ts `lanServices`): the iPXE binaries of
 * `boot_files` held in memory, the rest of that folder served from disk (root-confined), limits and
 * drop counters exported to /metrics, transfers reported as boot events when the MAC is known.
 *
 * `[tftp]` keys: config.ts TftpConfig, validated with the rest of relay.toml.
 */
/** The iPXE binaries kept in memory (the ones DHCP hands out, arm64's included, and the SNP-only variant). */
export const MEMORY_BOOT_FILES = [DEFAULT_BOOT_FILES.bios, DEFAULT_BOOT_FILES.uefiX64, DEFAULT_BOOT_FILES.uefiArm64!, SNP_ONLY_FILE];

export interface TftpServiceOptions {
  /** Address → MAC (from DHCP); without one a transfer cannot be reported (events carry a MAC). */
  macFor?: (address: string) => string | undefined;
}

export function tftpService(o: TftpServiceOptions = {}) {
  return async (ctx: Pick<RelayContext, 'config' | 'log' | 'events' | 'metrics'> & Partial<Pick<RelayContext, 'bootFiles' | 'signedChain'>>): Promise<LanService & { server: TftpServer; port: number }> => {
    const c = ctx.config.tftp;
    // One LAN: its address (the one public_url names); several: every address (replies are unicast, so routing picks the way).
    const host = new URL(ctx.config.http.public_url).hostname;
    const address = c.address ?? (!ctx.config.lan?.length || ctx.config.lan.length === 1 ? (isIpv4(host) ? host : '0.0.0.0') : '0.0.0.0');
    const files = ctx.bootFiles ?? bootFileContent(ctx.config.boot_files, MEMORY_BOOT_FILES);
    const log = ctx.log.child('tftp');
    const pumpPath = c.native ? pumpBinary(ctx.config.state_dir) : null;
    if (c.native && !pumpPath) log.warn('tftp native data path not found: serving blocks from Node (about 0.8× as fast at windowsize 1)', { fix: 'npm run build:relay' });
    const pump = pumpPath ? await startTftpPump(pumpPath, log) : null;
    const server = createTftpServer({
      address,
      port: c.port,
      // The signed chain (shim, GRUB, the per-client GRUB stub) first: its names never clash with iPXE's.
      content: ctx.signedChain ? firstOf(ctx.signedChain.provider(o.macFor ?? (() => undefined)), files.provider) : files.provider,
      maxTransfers: c.max_transfers,
      maxPerClient: c.max_per_client,
      limits: { maxBlksize: c.max_blksize, maxWindowsize: c.max_windowsize, defaultTimeoutMs: c.timeout_ms, maxRetries: c.retries },
      logger: ctx.log,
      ...(pump ? { pump } : {}),
      ...(o.macFor ? { macFor: o.macFor } : {}),
      onEvent: (e) => {
        if (!e.mac) return;
        ctx.events.emit({ mac: e.mac, stage: e.stage, at: e.at, ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }), detail: { ...e.detail, client: e.client } });
      },
    });
    const at = await server.listen();
    log.info('tftp listening', { address: at.address, port: at.port, inMemory: files.inMemory, dataPath: pump ? 'native' : 'node' });
    registerMetrics(ctx.metrics, server, pump);
    return {
      server,
      port: at.port,
      close: async () => {
        await server.close();
        await pump?.close();
      },
    };
  };
}

/** Totals are read from `stats()` at scrape time (gauges of monotonic values, hence no `_total`). */
function registerMetrics(m: RelayContext['metrics'], server: TftpServer, pump: TftpPump | null): void {
  m.gauge('edgeboot_relay_tftp_native', 'Whether TFTP blocks are sent by the native data path (1) or by Node (0)', () => (pump?.usable ? 1 : 0));
  m.gauge('edgeboot_relay_tftp_transfers', 'TFTP transfers by outcome since start (probe = UEFI size probe)', () => {
    const s = server.stats();
    return [
      [{ state: 'started' }, s.transfersStarted],
      [{ state: 'completed' }, s.transfersCompleted],
      [{ state: 'aborted' }, s.transfersAborted],
      [{ state: 'probe' }, s.sizeProbes],
      [{ state: 'native' }, s.pumped],
    ];
  });
  m.gauge('edgeboot_relay_tftp_active', 'TFTP transfers in progress', () => server.stats().active);
  m.gauge('edgeboot_relay_tftp_sent_bytes', 'TFTP payload bytes sent since start, retransmissions included', () => server.stats().bytesSent);
  m.gauge('edgeboot_relay_tftp_drops', 'TFTP packets ignored since start, by reason', () => Object.entries(server.stats().drops).map(([reason, n]) => [{ reason }, n]));
  m.gauge('edgeboot_relay_tftp_refused', 'TFTP requests answered with an ERROR since start, by reason', () =>
    Object.entries(server.stats().refused).map(([reason, n]) => [{ reason }, n]),
  );
}
