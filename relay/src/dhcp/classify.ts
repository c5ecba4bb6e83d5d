import { archFromCode, type ClientArch } from '../../../shared/boot/arch.ts';
import { getOption, hex, type DhcpPacket } from './codec.ts';
import { IPXE_FEATURES, IPXE_SUBOPTIONS, OPT } from './options.ts';
import { chaddrMac, clientArch, ipxeOptions, userClass, vendorClass } from './read.ts';

/**
 * Who is asking, from a decoded request alone (pure). Three kinds of client get a boot answer:
 * - `firmware`: a PXE ROM (option 60 starts with `PXEClient`): it gets an iPXE binary over TFTP.
 * - `http-boot`: UEFI HTTP boot (option 60 starts with `HTTPClient`): it gets an http:// URL.
 * - `ipxe`: iPXE itself (option 77 is `iPXE`, or it sent its option 175): it gets its script URL, which
 *   is what breaks the chain-loading loop — checked first, because iPXE also says `PXEClient`.
 * Everything else (a laptop asking for an address, a non-Ethernet client, an architecture we do not boot)
 * is `{ pxe: false, reason }`, and the proxy stays silent.
 */
export type ClientKind = 'firmware' | 'http-boot' | 'ipxe';

export interface IpxeInfo {
  /** 175.20: this build can fetch https:// URLs (Debian's cannot). */
  https: boolean;
  features: string[];
  version: string | null;
}

export type Classification =
  | {
      pxe: true;
      kind: ClientKind;
      /** Lower-case colon form, from chaddr. */
      mac: string;
      arch: ClientArch;
      /** Option 97 as 32 hex digits in wire order; null when absent or all zeros (qemu without -uuid). */
      guid: string | null;
      ipxe: IpxeInfo | null;
      vendorClass: string | null;
    }
  | { pxe: false; reason: string };

export function classify(req: DhcpPacket): Classification {
  if (req.op !== 1) return { pxe: false, reason: 'not a BOOTREQUEST' };
  const mac = chaddrMac(req);
  if (mac === null) return { pxe: false, reason: `hardware type ${req.htype}/${req.hlen} is not Ethernet` };

  const vc = vendorClass(req) ?? null;
  const ipxeOpts = ipxeOptions(req);
  const isIpxe = userClass(req) === 'iPXE' || ipxeOpts !== undefined;
  const kind: ClientKind | null = isIpxe
    ? 'ipxe'
    : vc?.startsWith('HTTPClient')
      ? 'http-boot'
      : vc?.startsWith('PXEClient')
        ? 'firmware'
        : null;
  if (!kind) return { pxe: false, reason: vc === null ? 'no vendor class (option 60)' : `vendor class ${JSON.stringify(vc.slice(0, 40))} is not PXEClient or HTTPClient` };

  const codes = clientArch(req) ?? archFromVendorClass(vc);
  if (!codes) return { pxe: false, reason: 'no client architecture (option 93)' };
  // RFC 4578 §2.1: several codes mean the client supports several; take the first we serve.
  let arch: ClientArch | null = null;
  for (const code of codes) if ((arch = archFromCode(code))) break;
  if (!arch) return { pxe: false, reason: `client architecture ${codes.join(',')} is not one edgeboot boots` };

  return { pxe: true, kind, mac, arch, guid: guidHex(req), ipxe: isIpxe ? ipxeInfo(ipxeOpts) : null, vendorClass: vc };
}

/** Option 97's GUID (after its type byte) as hex in wire order; null when absent or all zeros (checked before any string is built). */
function guidHex(req: DhcpPacket): string | null {
  const b = getOption(req, OPT.clientGuid);
  if (!b) return null;
  let any = false;
  for (let i = 1; i < b.length; i++) if (b[i] !== 0) any = true;
  if (!any) return null;
  return hex(b, 1);
}

/** PXE 2.1 §2.2 vendor class `PXEClient:Arch:xxxxx:UNDI:yyyzzz`, for old ROMs that omit option 93. */
function archFromVendorClass(vc: string | null): number[] | undefined {
  const m = vc && /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(vc);
  return m ? [Number(m[1])] : undefined;
}

function ipxeInfo(opts: Map<number, Uint8Array> | undefined): IpxeInfo {
  const features: string[] = [];
  for (const [code, v] of opts ?? []) {
    const name = (IPXE_FEATURES as Record<number, string | undefined>)[code];
    if (name && v.some((b) => b !== 0)) features.push(name);
  }
  const ver = opts?.get(IPXE_SUBOPTIONS.version);
  return {
    https: features.includes('https'),
    features: features.sort(),
    // 175.235 is three bytes, major.minor.patch (iPXE dhcp.h DHCP_EB_VERSION).
    version: ver && ver.length === 3 ? `${ver[0]}.${ver[1]}.${ver[2]}` : null,
  };
}
