/**
 * The DHCPv4 options edgeboot reads or writes: one table, code → name, defining document and wire type.
 * Everything else a client sends is kept as raw bytes and echoed nowhere.
 *
 * What a fault costs (codec.ts, `onFault`): by default the option alone — it is dropped or cut to the
 * part that is whole, and the packet records `{ code, reason }` in `faults`. `packet`: the relay cannot
 * tell what was asked without it, so the packet is dropped (53 the message type; 54 and 50, which decide
 * whose REQUEST this is and which address it takes — read as absent, a REQUEST for another server would
 * look like ours). `keep`: echoed unmodified whatever its framing (82, RFC 3046 §2.2).
 *
 * Wire types (lengths the decoder enforces, RFC 2132 §2 and each option's own section):
 * - `u8` / `u16` / `u32`: exactly 1 / 2 / 4 bytes, network order.
 * - `ip`: exactly 4 bytes; `ips`: a non-empty multiple of 4.
 * - `u16s`: a non-empty multiple of 2 (option 93 lists every architecture the client supports).
 * - `string`: at least 1 byte (RFC 2132 gives every string option a minimum length of 1).
 * - `bytes`: any length (client identifier has its own minimum of 2, see `min`).
 * - `codes`: a non-empty list of option codes.
 * - `undi`: 3 bytes (type 1, major, minor); `guid`: 17 bytes (type 0, 16-byte GUID).
 * - `tlv`: encapsulated sub-options (code, length, value), themselves checked for framing; only the
 *   sub-options before the first that overruns are kept (43 is PXE's framing only when option 60 says
 *   `PXEClient`, the only case the relay reads it).
 * - `pad` / `end`: single bytes with no length.
 */
export const OPTIONS = {
  pad: { code: 0, rfc: 'RFC 2132 §3.1', wire: 'pad' },
  subnetMask: { code: 1, rfc: 'RFC 2132 §3.3', wire: 'ip' },
  routers: { code: 3, rfc: 'RFC 2132 §3.5', wire: 'ips' },
  dnsServers: { code: 6, rfc: 'RFC 2132 §3.8', wire: 'ips' },
  hostName: { code: 12, rfc: 'RFC 2132 §3.14', wire: 'string' },
  domainName: { code: 15, rfc: 'RFC 2132 §3.17', wire: 'string' },
  broadcastAddress: { code: 28, rfc: 'RFC 2132 §5.3', wire: 'ip' },
  /** PXE uses it for its own sub-options (PXE 2.1 §2.4) when option 60 starts with `PXEClient`. */
  vendorEncap: { code: 43, rfc: 'RFC 2132 §8.4, PXE 2.1 §2.4', wire: 'tlv' },
  requestedAddress: { code: 50, rfc: 'RFC 2132 §9.1', wire: 'ip', onFault: 'packet' },
  leaseTime: { code: 51, rfc: 'RFC 2132 §9.2', wire: 'u32' },
  overload: { code: 52, rfc: 'RFC 2132 §9.3', wire: 'u8' },
  messageType: { code: 53, rfc: 'RFC 2132 §9.6', wire: 'u8', onFault: 'packet' },
  serverId: { code: 54, rfc: 'RFC 2132 §9.7', wire: 'ip', onFault: 'packet' },
  paramList: { code: 55, rfc: 'RFC 2132 §9.8', wire: 'codes' },
  message: { code: 56, rfc: 'RFC 2132 §9.9', wire: 'string' },
  maxMessageSize: { code: 57, rfc: 'RFC 2132 §9.10', wire: 'u16' },
  renewalTime: { code: 58, rfc: 'RFC 2132 §9.11', wire: 'u32' },
  rebindingTime: { code: 59, rfc: 'RFC 2132 §9.12', wire: 'u32' },
  vendorClass: { code: 60, rfc: 'RFC 2132 §9.13', wire: 'string' },
  clientId: { code: 61, rfc: 'RFC 2132 §9.14', wire: 'bytes', min: 2 },
  tftpServerName: { code: 66, rfc: 'RFC 2132 §9.4', wire: 'string' },
  bootFileName: { code: 67, rfc: 'RFC 2132 §9.5', wire: 'string' },
  /** RFC 3004 defines length-prefixed class entries, but iPXE sends the plain string `iPXE`. */
  userClass: { code: 77, rfc: 'RFC 3004', wire: 'string' },
  relayAgentInfo: { code: 82, rfc: 'RFC 3046', wire: 'tlv', onFault: 'keep' },
  clientArch: { code: 93, rfc: 'RFC 4578 §2.1', wire: 'u16s' },
  clientNdi: { code: 94, rfc: 'RFC 4578 §2.2', wire: 'undi' },
  clientGuid: { code: 97, rfc: 'RFC 4578 §2.3', wire: 'guid' },
  /** iPXE's own encapsulated settings (include/ipxe/dhcp.h, `DHCP_EB_ENCAP`). */
  ipxeEncap: { code: 175, rfc: 'iPXE dhcp.h', wire: 'tlv' },
  end: { code: 255, rfc: 'RFC 2132 §3.2', wire: 'end' },
} as const;

export type OptionName = keyof typeof OPTIONS;
export type WireType = (typeof OPTIONS)[OptionName]['wire'];

/** Option code by name, so call sites read `OPT.serverId` rather than a bare 54. */
export const OPT = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, v.code])) as {
  readonly [K in OptionName]: (typeof OPTIONS)[K]['code'];
};

export interface OptionSpec {
  name: OptionName;
  code: number;
  rfc: string;
  wire: WireType;
  min?: number;
  onFault?: 'packet' | 'keep';
}

/** Indexed by code (an array, not a Map: the decoder looks up every option of every packet). */
const BY_CODE: Array<OptionSpec | undefined> = new Array(256).fill(undefined);
for (const [name, v] of Object.entries(OPTIONS)) BY_CODE[v.code] = { name: name as OptionName, ...v };

/** The table entry for a code, or undefined for options we only carry as raw bytes. */
export function optionSpec(code: number): OptionSpec | undefined {
  return BY_CODE[code];
}

/** DHCP message types (RFC 2132 §9.6; 9 RFC 3203; 10–13 RFC 4388; 14–18 RFC 6926). */
export const MESSAGE_TYPES = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MESSAGE_TYPES;
/** The highest message type any RFC defines; larger values are malformed. */
export const MAX_MESSAGE_TYPE = 18;

/** PXE sub-options inside option 43 (PXE 2.1 spec §2.4, table 2-1). */
export const PXE_SUBOPTIONS = {
  discoveryControl: 6, // u8 bit field: 1 no broadcast, 2 no multicast, 4 only listed servers, 8 use the boot file in this packet
  bootServers: 8, // [type u16, count u8, ip × count]…
  bootMenu: 9, // [type u16, len u8, description]…
  menuPrompt: 10, // timeout u8 (0 boots the first item at once, 255 waits), prompt text
  bootItem: 71, // type u16, layer u16 (in the 4011 REQUEST and its ACK)
  end: 255,
} as const;

/** iPXE sub-options inside option 175 (include/ipxe/dhcp.h). Codes 16–79 are feature flags. */
export const IPXE_SUBOPTIONS = {
  priority: 1,
  /**
   * Cross-signed certificate source (string, `DHCP_EB_CROSS_CERT`; iPXE's default http://ca.ipxe.org/auto):
   * where iPXE fetches `<source>/<crc32>.der?subject=…` to link a server's certificate to its trusted root.
   */
  crosscert: 93,
  /** Skip PXE extensions: iPXE does not wait for ProxyDHCP offers and ignores PXE options. */
  noPxeDhcp: 176,
  busId: 177,
  version: 235,
} as const;

/** iPXE feature flags (175.16–175.79) by code, as iPXE names them in `features.h`. */
export const IPXE_FEATURES = {
  16: 'pxeext',
  17: 'iscsi',
  18: 'aoe',
  19: 'http',
  20: 'https',
  21: 'tftp',
  22: 'ftp',
  23: 'dns',
  24: 'bzimage',
  25: 'multiboot',
  26: 'slam',
  27: 'srp',
  32: 'nbi',
  33: 'pxe',
  34: 'elf',
  35: 'comboot',
  36: 'efi',
  37: 'fcoe',
  38: 'vlan',
  39: 'menu',
  40: 'sdi',
  41: 'nfs',
} as const satisfies Record<number, string>;
