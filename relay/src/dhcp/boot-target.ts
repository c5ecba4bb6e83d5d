import type { Arch } from '../../../shared/schemas/common.ts';
import type { Classification } from './classify.ts';

/**
 * What a classified client is told to load next (pure):
 * - PXE firmware → an iPXE binary over TFTP, by architecture (BIOS `undionly.kpxe` keeps using the ROM's
 *   UNDI driver; x64 UEFI `ipxe.efi` carries its own drivers, `snponly.efi` uses the firmware's SNP);
 * - UEFI HTTP boot → the same binary over HTTP from the relay (`<httpBase>/ipxe/<file>`);
 * - iPXE → its boot script on the relay, which breaks the chain-load loop (iPXE handed an iPXE binary
 *   would load itself forever: the ROM and the binary send identical options).
 * No binary configured for an architecture (ia32, arm32) means no answer, with a reason.
 * arm64 UEFI (option 93 = 11) gets `ipxe-arm64.efi`, which Debian's `ipxe` has had since 1.21.1 (the relay's
 * bundled folder, relay/build/boot-files.ts); bookworm's /usr/lib/ipxe has none, and TFTP says "not found".
 */
export interface BootFiles {
  bios: string;
  uefiX64: string;
  uefiArm64: string | null;
  uefiIa32: string | null;
  uefiArm32: string | null;
}

/**
 * The one list of boot file names (iPXE's, as Debian's `ipxe` package names them): what DHCP offers by
 * default, what TFTP keeps in memory (MEMORY_BOOT_FILES), what the relay's build extracts
 * (relay/build/boot-files.ts). `[dhcp.binaries]` overrides them per architecture.
 */
export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiX64: 'ipxe.efi',
  uefiArm64: 'ipxe-arm64.efi',
  uefiIa32: null,
  uefiArm32: null,
};
/** iPXE using the firmware's own network driver (SNP): served on request, never offered by default. */
export const SNP_ONLY_FILE = 'snponly.efi';

/** `[dhcp.binaries]` over the defaults. */
export function bootFilesOf(b: { bios?: string | undefined; uefi_x64?: string | undefined; uefi_arm64?: string | undefined; uefi_ia32?: string | undefined; uefi_arm32?: string | undefined }): BootFiles {
  return {
    bios: b.bios ?? DEFAULT_BOOT_FILES.bios,
    uefiX64: b.uefi_x64 ?? DEFAULT_BOOT_FILES.uefiX64,
    uefiArm64: b.uefi_arm64 ?? DEFAULT_BOOT_FILES.uefiArm64,
    uefiIa32: b.uefi_ia32 ?? DEFAULT_BOOT_FILES.uefiIa32,
    uefiArm32: b.uefi_arm32 ?? DEFAULT_BOOT_FILES.uefiArm32,
  };
}

/**
 * The boot files DHCP may offer, checked against the folder TFTP serves them from: a name set in
 * `[dhcp.binaries]` that is not there is a configuration error (DHCP would send firmware to a file
 * TFTP refuses); a default that is not there (bookworm's /usr/lib/ipxe has no arm64 binary) is not
 * offered at all, so those clients hear why instead of failing a transfer.
 */
export function servableBootFiles(binaries: Parameters<typeof bootFilesOf>[0], exists: (name: string) => boolean): { files: BootFiles; problems: string[]; dropped: string[] } {
  const files = bootFilesOf(binaries);
  const problems: string[] = [];
  const dropped: string[] = [];
  const keys: Array<[keyof BootFiles, string]> = [['bios', 'bios'], ['uefiX64', 'uefi_x64'], ['uefiArm64', 'uefi_arm64'], ['uefiIa32', 'uefi_ia32'], ['uefiArm32', 'uefi_arm32']];
  for (const [key, toml] of keys) {
    const name = files[key];
    if (name === null || exists(name)) continue;
    if ((binaries as Record<string, string | undefined>)[toml] !== undefined) problems.push(`[dhcp.binaries] ${toml} = "${name}" is not in boot_files: DHCP would offer a file TFTP cannot send`);
    else if (key === 'bios' || key === 'uefiX64') problems.push(`boot_files has no ${name} (the default for ${toml}): set [dhcp.binaries] ${toml}, or point boot_files at a folder that has it`);
    else {
      dropped.push(name);
      (files as unknown as Record<string, string | null>)[key] = null;
    }
  }
  return { files, problems, dropped };
}

/** Every name DHCP may offer with this configuration (each must be one TFTP can send). */
export function offeredBootFiles(f: BootFiles): string[] {
  return [...new Set([f.bios, f.uefiX64, f.uefiArm64, f.uefiIa32, f.uefiArm32].filter((x): x is string => x !== null))];
}

/** Where the relay's HTTP server serves the boot binaries to UEFI HTTP-boot clients. */
export const HTTP_BOOT_FILES_PATH = '/ipxe/';
/** Where the relay's HTTP server serves boot scripts to iPXE. */
export const SCRIPT_PATH = '/boot';

export type BootTarget =
  | { kind: 'tftp'; file: string }
  | { kind: 'http'; url: string }
  /** `crosscert`: iPXE's cross-signed certificate source (175.93), for a direct https:// script URL. */
  | { kind: 'script'; url: string; crosscert?: string };

export type TargetResult = { ok: true; target: BootTarget } | { ok: false; reason: string };

export interface TargetContext {
  /** `http://<relay address>:<port>`, as iPXE and HTTP-boot firmware reach the relay. */
  httpBase: string;
  bootFiles: BootFiles;
}

const FILE_BY_ARCH: Record<Arch, keyof BootFiles> = {
  bios: 'bios',
  'uefi-x64': 'uefiX64',
  'uefi-arm64': 'uefiArm64',
  'uefi-ia32': 'uefiIa32',
  'uefi-arm32': 'uefiArm32',
};

/** `nonce` is required for iPXE (the script URL carries it) and ignored otherwise. */
export function bootTarget(c: Extract<Classification, { pxe: true }>, ctx: TargetContext, nonce?: string): TargetResult {
  if (c.kind === 'ipxe') {
    if (!nonce) throw new Error('a script URL needs a nonce');
    return { ok: true, target: { kind: 'script', url: scriptUrl(ctx.httpBase, { mac: c.mac, arch: c.arch.code, nonce }) } };
  }
  const file = ctx.bootFiles[FILE_BY_ARCH[c.arch.arch]];
  if (!file) return { ok: false, reason: `no boot file configured for ${c.arch.name}` };
  if (c.kind === 'http-boot') return { ok: true, target: { kind: 'http', url: `${ctx.httpBase}${HTTP_BOOT_FILES_PATH}${file}` } };
  if (c.arch.http) return { ok: false, reason: `${c.arch.name} asked as PXEClient` };
  return { ok: true, target: { kind: 'tftp', file } };
}

/**
 * The script URL iPXE is given:
 *
 *   http://<relay>:<port>/boot?mac=52-54-00-e8-00-01&nonce=<nonce>&arch=7&uuid=${uuid}
 *
 * - `mac` and `arch` are written by the relay, not left to iPXE's `${net0/mac}`: the relay knows them from
 *   this very packet (chaddr, option 93), and `net0` is not necessarily the NIC that booted. Hyphens
 *   (like `${mac:hexhyp}`) need no URL encoding.
 * - `nonce` (issued by the caller, bound to this MAC) is what entitles the fetch to the machine's script.
 * - `${uuid}` is the one setting left to iPXE: the SMBIOS UUID in the form the cloud matches, which
 *   option 97 gives only in firmware byte order. iPXE expands `${...}` in a DHCP-supplied filename;
 *   an unset uuid expands to nothing, which the cloud accepts.
 * ~100 bytes for an IPv4 relay: fits the 128-byte `file` field; longer URLs go in option 67 only.
 */
export function scriptUrl(httpBase: string, p: { mac: string; arch: number | null; nonce: string }): string {
  const mac = p.mac.replaceAll(':', '-');
  return `${httpBase}${SCRIPT_PATH}?mac=${mac}&nonce=${encodeURIComponent(p.nonce)}${p.arch === null ? '' : `&arch=${p.arch}`}&uuid=\${uuid}`;
}

/**
 * Chaining an old iPXE once to the relay's own (`[dhcp] upgrade_ipxe`). A client already running iPXE
 * (qemu's and many vendors' NIC ROMs: the 2019 build, no HTTPS) normally gets its script URL. When a boot
 * needs what it lacks — an https:// cloud URL under `chaining = "direct"` — it can instead be handed the
 * relay's iPXE binary over TFTP (undionly.kpxe under BIOS, which drives the ROM's UNDI; ipxe.efi under
 * UEFI), which DHCPs again and then reports HTTPS in option 175.20.
 *   never        an old iPXE keeps the LAN (via-relay) path
 *   when-needed  chain it when the relay would hand a capable iPXE a direct https:// URL
 *   always       chain every iPXE that does not report HTTPS (the relay's binaries everywhere)
 * Never a loop: the relay's binary reports HTTPS, and a MAC chained less than `windowMs` ago is not
 * chained again even if its second DHCP still lacks HTTPS (a `boot_files` folder holding an old iPXE):
 * it gets its script URL, and the reason is reported once per MAC.
 */
export type UpgradeIpxe = 'never' | 'when-needed' | 'always';

export type UpgradeDecision =
  | { chain: true; target: BootTarget }
  | { chain: false; reason: 'not-ipxe' | 'has-https' | 'policy' | 'not-needed' | 'no-binary' | 'chained-recently'; note?: string };

export interface UpgradeInput {
  policy: UpgradeIpxe;
  /** The relay would give an HTTPS-capable iPXE a direct https:// URL (chaining = "direct", https cloud). */
  needsHttps: boolean;
  bootFiles: BootFiles;
  /** When this MAC was last chained (ms, the caller's clock), or null. */
  chainedAt: number | null;
  now: number;
  windowMs: number;
}

/** Whether to hand this iPXE client the relay's iPXE binary instead of a script (pure). */
export function upgradeDecision(c: Extract<Classification, { pxe: true }>, i: UpgradeInput): UpgradeDecision {
  if (c.kind !== 'ipxe') return { chain: false, reason: 'not-ipxe' };
  if (c.ipxe?.https) return { chain: false, reason: 'has-https' };
  if (i.policy === 'never') return { chain: false, reason: 'policy' };
  if (i.policy === 'when-needed' && !i.needsHttps) return { chain: false, reason: 'not-needed' };
  const file = i.bootFiles[FILE_BY_ARCH[c.arch.arch]];
  if (!file) return { chain: false, reason: 'no-binary', note: `no boot file configured for ${c.arch.name}` };
  if (i.chainedAt !== null && i.now - i.chainedAt < i.windowMs) {
    return { chain: false, reason: 'chained-recently', note: `chained to ${file} ${Math.round((i.now - i.chainedAt) / 1000)} s ago and still no HTTPS in option 175: does boot_files hold an iPXE without HTTPS?` };
  }
  return { chain: true, target: { kind: 'tftp', file } };
}

/** How long a chained MAC is not chained again: its second DHCP comes seconds later (TFTP + iPXE start-up). */
export const UPGRADE_WINDOW_MS = 120_000;

/**
 * The per-MAC memory around `upgradeDecision`, with counters for /metrics and a once-per-MAC report of
 * a refused second chain. Entries older than the window leave from the oldest end as new ones come
 * (insertion order is chaining order: amortised O(1), where a scan of every entry per chain was O(n)),
 * and at most `max` are kept (oldest first), so a storm of old iPXE clients cannot grow it.
 */
export interface IpxeUpgradesOptions {
  policy: UpgradeIpxe;
  needsHttps: boolean;
  bootFiles: BootFiles;
  windowMs?: number;
  now?: () => number;
  /** Told once per MAC when a second chain is refused (the caller logs it). */
  onRefused?: (mac: string, note: string) => void;
  /** MACs remembered at most (default 16,384). */
  max?: number;
}

export class IpxeUpgrades {
  readonly counts = { chained: 0, 'chained-recently': 0 };
  private readonly chained = new Map<string, { at: number; reported: boolean }>();
  private readonly o: IpxeUpgradesOptions;

  constructor(o: IpxeUpgradesOptions) {
    this.o = o;
  }

  /** The TFTP target to chain this client to, or null: give it its script as usual. */
  target(c: Extract<Classification, { pxe: true }>): BootTarget | null {
    if (this.o.policy === 'never' || c.kind !== 'ipxe') return null;
    const now = (this.o.now ?? Date.now)();
    const windowMs = this.o.windowMs ?? UPGRADE_WINDOW_MS;
    const seen = this.chained.get(c.mac);
    const d = upgradeDecision(c, { policy: this.o.policy, needsHttps: this.o.needsHttps, bootFiles: this.o.bootFiles, chainedAt: seen?.at ?? null, now, windowMs });
    if (d.chain) {
      this.prune(now, windowMs);
      // Re-inserted, so the Map's order stays the order of the chaining times.
      this.chained.delete(c.mac);
      const max = this.o.max ?? 16_384;
      while (this.chained.size >= max) this.chained.delete(this.chained.keys().next().value!);
      this.chained.set(c.mac, { at: now, reported: false });
      this.counts.chained++;
      return d.target;
    }
    if (d.reason === 'chained-recently' && seen) {
      this.counts['chained-recently']++;
      if (!seen.reported) this.o.onRefused?.(c.mac, d.note!);
      seen.reported = true;
    }
    return null;
  }

  /** MACs remembered now (tests, metrics). */
  get size(): number {
    return this.chained.size;
  }

  private prune(now: number, windowMs: number): void {
    for (const [mac, e] of this.chained) {
      if (now - e.at < windowMs) return;
      this.chained.delete(mac);
    }
  }
}
