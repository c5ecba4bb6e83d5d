import { grubUrl } from '../../../shared/boot/grub-config.ts';
import type { SignedLoader } from '../../../shared/schemas/relay-sync.ts';
import type { TargetResult } from '../dhcp/boot-target.ts';
import { bytesContent, checkName, REFUSED, trustedFile, type ContentProvider, type OpenResult } from '../tftp/content.ts';

/*
 * The relay's side of the signed UEFI x64 chain (firmware → shim → GRUB → kernel), measured with
 * Debian trixie's shim 16.1 and GRUB 2.12 under OVMF with Secure Boot on:
 *
 * 1. DHCP hands the firmware `sb/<shim image>/<grub image>/shimx64.efi` (in the BOOTP `file` field).
 * 2. shim asks TFTP, in the same folder, for revocations_sku.efi, revocations_sbat.efi,
 *    shim_certificate_0.efi (optional: "not found" is fine) and then grubx64.efi: shim builds those
 *    names from the directory of the boot file it was given (shim netboot.c parseDhcp4), so the path
 *    itself says which GRUB belongs to which shim, and no per-client state is needed.
 * 3. Debian's network GRUB has `/grub` built in as its prefix, whatever folder it came from: it asks
 *    for /grub/x86_64-efi/{command,fs,crypto,terminal}.lst (optional) and then /grub/grub.cfg, from
 *    the server that gave it shim. That file is written here per client: it names the machine's own
 *    configuration on the relay's HTTP server, with a nonce bound to the client's MAC and address,
 *    exactly like the script URL iPXE gets in its DHCP answer (http/nonces.ts).
 *
 * Both images come from the relay's image cache (LoaderFiles fetches them when the snapshot names
 * them); one that is not on disk yet is "not found", and DHCP does not offer the chain until it is.
 */

const DIR = 'sb';
const IMAGE = /^img_[0-9a-z]{26}$/;
export const SHIM_FILE = 'shimx64.efi';
export const GRUB_FILE = 'grubx64.efi';
export const GRUB_CONFIG = 'grub/grub.cfg';

/** The boot file DHCP hands UEFI x64 firmware for this chain (≤ 76 bytes: fits the `file` field). */
export function shimBootFile(l: SignedLoader): string {
  return `${DIR}/${l.shim}/${l.grub}/${SHIM_FILE}`;
}

/**
 * Firmware that refuses shim (Secure Boot on, shim not signed by a key in its db) says nothing on the
 * network: it fetched shim and moves on to its next boot option — PXE over IPv6, then UEFI HTTP boot,
 * whose DISCOVER the relay sees. A machine that asks DHCP again within `windowMs` after fetching shim,
 * without having fetched the GRUB that shim loads, had shim refused: that becomes a `loader-failed`
 * stage on its timeline (reported once per fetch). Bounded: the oldest records go first.
 */
export class ChainWatch {
  readonly #served = new Map<string, { shimAt: number; grubAt: number | null }>();
  readonly #windowMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(o: { windowMs?: number; max?: number; now?: () => number } = {}) {
    this.#windowMs = o.windowMs ?? 120_000;
    this.#max = o.max ?? 4096;
    this.#now = o.now ?? Date.now;
  }

  served(mac: string, file: typeof SHIM_FILE | typeof GRUB_FILE): void {
    const r = this.#served.get(mac);
    if (file === GRUB_FILE) {
      if (r) r.grubAt = this.#now();
      return;
    }
    this.#served.delete(mac);
    while (this.#served.size >= this.#max) this.#served.delete(this.#served.keys().next().value!);
    this.#served.set(mac, { shimAt: this.#now(), grubAt: null });
  }

  /** Called when the MAC asks DHCP for a boot again: true when that means its firmware refused shim. */
  refusedShim(mac: string): boolean {
    const r = this.#served.get(mac);
    if (!r) return false;
    this.#served.delete(mac);
    return r.grubAt === null && this.#now() - r.shimAt < this.#windowMs;
  }
}

export interface ChainDeps {
  /** A complete cached image on local disk (ImageCache.localObject). */
  localObject(imageId: string): { path: string; size: number } | null;
  /** The MAC holding an address (DHCP's address book), for the per-client GRUB stub. */
  macFor(address: string): string | undefined;
  /** A nonce for this MAC and address (NonceRegistry.issue). */
  issueNonce(mac: string, ip: string): string;
  /** http://<relay LAN address>[:port], where GRUB fetches its configuration and files. */
  httpBase: string;
  /** With several LANs: the base of the LAN a client address is on (default: httpBase). */
  httpBaseFor?: (clientAddress: string) => string;
  /** Told which machine fetched shim or GRUB (to notice firmware that refused shim). */
  watch?: ChainWatch;
  /** GRUB at this address is starting (it asks for /grub/grub.cfg): its earlier HTTP connections are over. */
  grubStarting?(address: string): void;
}

/** DHCP's answer for a UEFI x64 firmware client whose profile names a shim and a GRUB. */
export function signedChainTarget(l: SignedLoader, d: Pick<ChainDeps, 'localObject'>): TargetResult {
  const missing = [l.shim, l.grub].filter((id) => !d.localObject(id));
  if (missing.length > 0) return { ok: false, reason: `the signed chain's images are not in the relay's cache yet (${missing.join(', ')}): fetching` };
  return { ok: true, target: { kind: 'tftp', file: shimBootFile(l) } };
}

/**
 * The GRUB configuration served over TFTP at /grub/grub.cfg: one `configfile` of the machine's own
 * configuration (GRUB's HTTP client; its syntax `(http,host:port)/path`). A client whose MAC the relay
 * does not know gets a configuration that says so and leaves to the firmware.
 */
export function grubStub(httpBase: string, mac: string | undefined, nonce: string | undefined): string {
  if (!mac || !nonce) {
    // No quote characters in comments: GRUB's lexer reads them even there.
    return ['# edgeboot: this relay has not seen the DHCP exchange of this client, so it cannot tell which machine this is', "echo 'edgeboot: unknown client: leaving to the firmware'", 'sleep 3', 'exit', ''].join('\n');
  }
  // configfile returns only when it could not load the configuration (those end in boot, exit or a
  // menu): then say so and leave to the firmware rather than sit at the grub> prompt.
  return [
    `# edgeboot: ${mac}`,
    `configfile '${grubUrl(`${httpBase}/grub/${mac.replaceAll(':', '-')}/${nonce}`)}'`,
    "echo 'edgeboot: could not load the configuration of this machine from the relay: leaving to the firmware'",
    'sleep 5',
    'exit',
    '',
  ].join('\n');
}

/** TFTP content for `sb/<shim>/<grub>/{shimx64,grubx64}.efi` and `grub/grub.cfg`; everything else is not its business. */
export function signedChainProvider(d: ChainDeps): ContentProvider {
  return {
    open(name, from): OpenResult {
      const checked = checkName(name);
      if (!checked.ok) return REFUSED('bad-name');
      const path = checked.path;
      if (path === GRUB_CONFIG) {
        if (!from) return REFUSED('not-found');
        d.grubStarting?.(from.address);
        const mac = d.macFor(from.address);
        return { ok: true, content: bytesContent(new TextEncoder().encode(grubStub(d.httpBaseFor?.(from.address) ?? d.httpBase, mac, mac ? d.issueNonce(mac, from.address) : undefined))) };
      }
      const parts = path.split('/');
      if (parts.length !== 4 || parts[0] !== DIR || !IMAGE.test(parts[1]!) || !IMAGE.test(parts[2]!)) return REFUSED('not-found');
      const file = parts[3] === SHIM_FILE || parts[3] === GRUB_FILE ? parts[3] : null;
      const local = file ? d.localObject(file === SHIM_FILE ? parts[1]! : parts[2]!) : null;
      if (!local) return REFUSED('not-found');
      const mac = from && d.watch ? d.macFor(from.address) : undefined;
      if (mac) d.watch!.served(mac, file!);
      return trustedFile(local.path);
    },
  };
}
