/**
 * The contract between the composition root (main.ts) and the LAN services it starts (DHCP in
 * relay/src/dhcp, TFTP in relay/src/tftp): what they are given, and how they are stopped. Its own
 * file so that the services import this, not main.ts (which imports them).
 */
import type { RelayConfig } from '../config.ts';
import type { EventSink } from '../events.ts';
import type { MetricsRegistry } from '../http/metrics.ts';
import type { NonceRegistry } from '../http/nonces.ts';
import type { TargetResult } from '../dhcp/boot-target.ts';
import type { Logger } from '../log.ts';
import type { Credentials } from '../sync/credentials.ts';
import type { SnapshotStore } from '../sync/snapshot-store.ts';
import type { bootFileContent, ContentProvider } from '../tftp/content.ts';

/** What the LAN servers (DHCP in relay/src/dhcp, TFTP in relay/src/tftp) are given. */
export interface RelayContext {
  config: RelayConfig;
  log: Logger;
  /** `netbootFor(mac, arch)`: answer this PXE client at all? Local state only, never the WAN. */
  snapshot: SnapshotStore;
  /** `issue(mac, ip)` → the nonce for the script URL handed to iPXE (see scriptUrl). */
  nonces: NonceRegistry;
  /** The via-relay script URL for iPXE (`dhcp/boot-target.ts` scriptUrl), with a fresh nonce for this MAC and address. */
  scriptUrl(mac: string, ip: string | null, archCode: number | null): string;
  events: EventSink;
  metrics: MetricsRegistry;
  credentials: Credentials;
  /** The boot binaries (`boot_files`), iPXE's in memory: served by TFTP and, for HTTP boot, by /ipxe/. */
  bootFiles: ReturnType<typeof bootFileContent>;
  /**
   * The signed UEFI x64 chain (secure-boot/chain.ts): `target(mac)` is DHCP's answer for UEFI x64
   * firmware whose profile names a shim and a GRUB (null: iPXE as usual); `provider(macFor)` serves
   * them and the per-client GRUB stub over TFTP.
   */
  signedChain?: { target(mac: string, firmware: boolean): TargetResult | null; provider(macFor: (address: string) => string | undefined): ContentProvider };
}

/** A LAN server started by the relay; `close` stops it (sockets closed, timers cleared). */
export interface LanService {
  close(): Promise<void>;
}
export type LanServiceFactory = (ctx: RelayContext) => Promise<LanService>;

