import { latin1, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { optionSpec } from '../../../relay/src/dhcp/options.ts';
import { clientArch, clientGuid, clientNdi, messageType, subOptions, toHex } from '../../../relay/src/dhcp/read.ts';

/**
 * A readable dump of a decoded packet, one field or option per line. The golden `.txt` beside each
 * `.hex` fixture is this dump: a decoder change that alters what we read from a real packet shows up
 * as a diff a person can review.
 */
export function dumpDhcp(p: DhcpPacket): string {
  const lines = [
    `op ${p.op} htype ${p.htype} hlen ${p.hlen} hops ${p.hops} xid 0x${p.xid.toString(16).padStart(8, '0')} secs ${p.secs} flags 0x${p.flags.toString(16).padStart(4, '0')}`,
    `ciaddr ${p.ciaddr} yiaddr ${p.yiaddr} siaddr ${p.siaddr} giaddr ${p.giaddr}`,
    `chaddr ${toHex(p.chaddr.subarray(0, p.hlen)).replace(/(..)(?!$)/g, '$1:')}`,
    `sname ${JSON.stringify(p.sname)}`,
    `file ${JSON.stringify(p.file)}`,
  ];
  for (const o of p.options) lines.push(`option ${o.code} ${optionSpec(o.code)?.name ?? '?'} [${o.data.length}] ${render(p, o.code, o.data)}`);
  return `${lines.join('\n')}\n`;
}

function render(p: DhcpPacket, code: number, data: Uint8Array): string {
  const spec = optionSpec(code);
  if (code === 53) return String(messageType(p));
  if (code === 93) return clientArch(p)!.join(',');
  if (code === 94) return JSON.stringify(clientNdi(p));
  if (code === 97) return JSON.stringify(clientGuid(p));
  if (code === 43 || code === 175 || code === 82) {
    return [...subOptions(code, data)].map(([k, v]) => `${k}=${toHex(v)}`).join(' ');
  }
  switch (spec?.wire) {
    case 'ip':
    case 'ips':
      return (toHex(data).match(/.{8}/g) ?? []).map((h) => h.match(/../g)!.map((x) => parseInt(x, 16)).join('.')).join(',');
    case 'u16':
    case 'u32':
    case 'u8':
      return String(data.reduce((n, b) => n * 256 + b, 0));
    case 'codes':
      return [...data].join(',');
    case 'string':
      return JSON.stringify(latin1(data));
    default:
      return toHex(data);
  }
}
