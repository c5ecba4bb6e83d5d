import { describe, expect, it } from 'vitest';
import { decodeDhcp, encodeDhcp } from '../../../relay/src/dhcp/codec.ts';
import { dumpDhcp } from './dump.ts';
import { fixtureBytes, fixtureDump, fixtureNames } from './fixtures.ts';

/**
 * Golden tests over packets captured from OVMF, iPXE, a scripted BIOS PXE ROM, dnsmasq's proxy and
 * dnsmasq as a router (fixtures/regenerate.sh). The `.txt` beside each `.hex` is what we read from it.
 */
const names = fixtureNames();

describe('captured DHCP packets', () => {
  it('has the fixtures the other tests rely on', () => {
    for (const n of ['ovmf-discover', 'ovmf-request-4011', 'ovmf-http-discover', 'ipxe-discover', 'ipxe-request-4011', 'bios-rom-discover', 'bios-rom-request-4011', 'dnsmasq-proxy-offer-to-bios-rom', 'dnsmasq-proxy-offer-to-ovmf', 'dnsmasq-proxy-offer-to-ipxe', 'dnsmasq-proxy-ack-4011-to-bios-rom', 'dnsmasq-proxy-ack-4011-to-ovmf', 'dnsmasq-proxy-ack-4011-to-ipxe']) {
      expect(names).toContain(n);
    }
  });

  for (const name of names) {
    it(`${name}: decodes to its readable dump`, () => {
      expect(dumpDhcp(decodeDhcp(fixtureBytes(name)))).toBe(fixtureDump(name));
    });

    it(`${name}: encodes back to the identical bytes`, () => {
      const bytes = fixtureBytes(name);
      expect(encodeDhcp(decodeDhcp(bytes), { minSize: bytes.length })).toEqual(bytes);
    });
  }
});
