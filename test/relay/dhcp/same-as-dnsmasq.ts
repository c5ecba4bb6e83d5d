import { expect } from 'vitest';
import { getOption, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { OPT } from '../../../relay/src/dhcp/options.ts';
import { toHex } from '../../../relay/src/dhcp/read.ts';

const hex = (p: DhcpPacket, code: number) => {
  const v = getOption(p, code);
  return v && toHex(v);
};

/**
 * The fields a proxy reply must share with dnsmasq's (issue C): op, addresses, 53/54/60/97 and, where
 * asked, 43. `sameExchange` also compares xid and chaddr (replies to the very same captured request);
 * `siaddr: false` leaves out siaddr where we depart on purpose (iPXE's offer, see relay/src/dhcp/reply.ts).
 */
export function expectSameAsDnsmasq(ours: DhcpPacket, theirs: DhcpPacket, opts: { option43: boolean; sameExchange?: boolean; siaddr?: boolean }) {
  expect(ours.op).toBe(theirs.op);
  if (opts.sameExchange !== false) {
    expect(ours.xid).toBe(theirs.xid);
    expect(toHex(ours.chaddr)).toBe(toHex(theirs.chaddr));
  }
  expect(ours.yiaddr).toBe(theirs.yiaddr);
  expect(ours.ciaddr).toBe(theirs.ciaddr);
  if (opts.siaddr !== false) expect(ours.siaddr).toBe(theirs.siaddr);
  for (const code of [OPT.messageType, OPT.serverId, OPT.vendorClass, OPT.clientGuid]) {
    expect({ code, value: hex(ours, code) }).toEqual({ code, value: hex(theirs, code) });
  }
  if (opts.option43) expect(hex(ours, OPT.vendorEncap)).toBe(hex(theirs, OPT.vendorEncap));
}
