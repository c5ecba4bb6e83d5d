import { forEachSubOption, getOption, hex, ipToString, latin1, macText, type DhcpPacket } from './codec.ts';
import { OPT } from './options.ts';

/**
 * Typed getters over a decoded packet. `decodeDhcp` has already checked every option of the table and
 * dropped or cut the faulty ones (codec.ts), so these only interpret, and never throw: a getter returns
 * a well-formed value or undefined. Over encapsulated data (43, 82, 175) they read the sub-options that
 * are well framed and stop at the first that is not, as the decoder does.
 */

export function messageType(p: DhcpPacket): number | undefined {
  return getOption(p, OPT.messageType)?.[0];
}

export function serverId(p: DhcpPacket): string | undefined {
  const b = getOption(p, OPT.serverId);
  return b && ipToString(b);
}

export function requestedAddress(p: DhcpPacket): string | undefined {
  const b = getOption(p, OPT.requestedAddress);
  return b && ipToString(b);
}

export function paramList(p: DhcpPacket): number[] {
  return [...(getOption(p, OPT.paramList) ?? [])];
}

/** RFC 2132 §9.10: 576 is the smallest legal value; smaller claims are raised to it. */
export function maxMessageSize(p: DhcpPacket): number | undefined {
  const b = getOption(p, OPT.maxMessageSize);
  return b && Math.max(576, (b[0]! << 8) | b[1]!);
}

export function vendorClass(p: DhcpPacket): string | undefined {
  const b = getOption(p, OPT.vendorClass);
  return b && latin1(b);
}

export function clientId(p: DhcpPacket): Uint8Array | undefined {
  return getOption(p, OPT.clientId);
}

/** iPXE sends the bare string `iPXE` (not RFC 3004's length-prefixed entries), so read it as text. */
export function userClass(p: DhcpPacket): string | undefined {
  const b = getOption(p, OPT.userClass);
  return b && latin1(b);
}

/** Option 93: every architecture the client supports, in its order of preference (RFC 4578 §2.1). */
export function clientArch(p: DhcpPacket): number[] | undefined {
  const b = getOption(p, OPT.clientArch);
  if (!b) return undefined;
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) out.push((b[i]! << 8) | b[i + 1]!);
  return out;
}

/** Option 94: UNDI interface version (type 1 = UNDI; 2.1 → major 2, minor 1; UEFI sends 3.x). */
export function clientNdi(p: DhcpPacket): { type: number; major: number; minor: number } | undefined {
  const b = getOption(p, OPT.clientNdi);
  return b && { type: b[0]!, major: b[1]!, minor: b[2]! };
}

/** Option 97: type 0 then a 16-byte machine GUID (RFC 4578 §2.3), as lower-case hex. */
export function clientGuid(p: DhcpPacket): { type: number; hex: string } | undefined {
  const b = getOption(p, OPT.clientGuid);
  return b && { type: b[0]!, hex: hex(b, 1) };
}

/** Option 82 as received, for echoing (RFC 3046 §2.2: the server returns it unchanged). */
export function relayAgentInfo(p: DhcpPacket): Uint8Array | undefined {
  return getOption(p, OPT.relayAgentInfo);
}

export type SubOptions = Map<number, Uint8Array>;

/**
 * Sub-options of an encapsulating option (43 for PXE, 175 for iPXE), pads and END skipped, up to the
 * first one that overruns. A repeated sub-option code is concatenated, as RFC 3396 does for top-level
 * options. Values are views into the option's bytes.
 */
export function subOptions(code: number, data: Uint8Array): SubOptions {
  const out: SubOptions = new Map();
  forEachSubOption(code, data, (sub, v) => {
    const prev = out.get(sub);
    if (!prev) return void out.set(sub, v);
    const joined = new Uint8Array(prev.length + v.length);
    joined.set(prev);
    joined.set(v, prev.length);
    out.set(sub, joined);
  });
  return out;
}

/** Option 43 as PXE sub-options (PXE 2.1 §2.4); only meaningful when option 60 starts with `PXEClient`. */
export function pxeOptions(p: DhcpPacket): SubOptions | undefined {
  const b = getOption(p, OPT.vendorEncap);
  return b && subOptions(OPT.vendorEncap, b);
}

/** Option 175, iPXE's encapsulated settings and feature flags. */
export function ipxeOptions(p: DhcpPacket): SubOptions | undefined {
  const b = getOption(p, OPT.ipxeEncap);
  return b && subOptions(OPT.ipxeEncap, b);
}

/** The client's MAC in canonical colon form, for Ethernet (htype 1, hlen 6); null for anything else. */
export function chaddrMac(p: DhcpPacket): string | null {
  if (p.htype !== 1 || p.hlen !== 6) return null;
  return macText(p.chaddr);
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`not hex: ${hex.slice(0, 40)}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Bytes as lower-case hex (codec.ts `hex`, under the name the tests and tools read it by). */
export { hex as toHex };
