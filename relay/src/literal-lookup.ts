import type { SocketOptions } from 'node:dgram';
import { isIPv4 } from 'node:net';

/**
 * dgram resolves the address of every send through dns.lookup, which for an IP literal still costs a
 * process.nextTick per packet (measurable at one send per TFTP block or DHCP reply). The relay's UDP
 * servers only send to IPv4 literals, so answer synchronously and refuse anything else.
 */
export const literalLookup: SocketOptions['lookup'] = (address, _options, callback) => {
  if (isIPv4(address)) callback(null, address, 4);
  else callback(Object.assign(new Error(`not an IPv4 literal: ${address}`), { code: 'EINVAL' }), '', 4);
};
