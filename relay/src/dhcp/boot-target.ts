import type { Arch } from '../../../shared/schemas/common.ts';
import type { Classification } from './classify.ts';

/**
 * What a classified client is told to load next (pure):
 * - PXE firmware → an iPXE binary over TFTP, by architecture (BIOS `undionly.kpxe` keeps using the ROM's
 *   UNDI driver; x64 UEFI `ipxe.efi` carries its own drivers, `snponly.efi` uses the firmware's SNP);
 * - UEFI HTTP boot → the same binary over HTTP from the relay (`<httpBase>/ipxe/<file>`);
 * - iPXE → its boot script on the relay, which breaks the chain-load loop (iPXE handed an iPXE binary
 *   would load itself forever: the ROM and the binary send identical options).
 * No binary configured for an architecture (ia32, arm32, unset arm64) means no answer, with a reason.
 */
export interface BootFiles {
  bios: string;
  uefiX64: string;
  uefiArm64: string | null;
  uefiIa32: string | null;
  uefiArm32: string | null;
}

export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiX64: 'ipxe.efi',
  uefiArm64: null,
  uefiIa32: null,
  uefiArm32: null,
};

/** Where the relay's HTTP server serves the boot binaries to UEFI HTTP-boot clients. */
export const HTTP_BOOT_FILES_PATH = '/ipxe/';
/** Where the relay's HTTP server serves boot scripts to iPXE. */
export const SCRIPT_PATH = '/boot';

export type BootTarget =
  | { kind: 'tftp'; file: string }
  | { kind: 'http'; url: string }
  | { kind: 'script'; url: string };

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
