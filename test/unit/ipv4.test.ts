import { describe, expect, it } from 'vitest';
import { intToIp, ipToInt, isIpv4 } from '../../shared/ipv4.ts';

/** The grammar the hand-written reader implements: four parts 0–255, no leading zeros, nothing else. */
const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

describe('IPv4 dotted quads', () => {
  it('accepts exactly what the written grammar accepts, over every mix of edge-case parts', () => {
    const parts = ['0', '1', '9', '10', '01', '00', '001', '99', '100', '199', '249', '250', '255', '256', '260', '300', '999', '1000', '', '-1', ' 1', '1 ', 'a', '0x1', '+1', '1e2', '٣'];
    let checked = 0;
    for (const a of parts) for (const b of ['0', '255', '01', '']) for (const c of parts) for (const d of ['1', '256', '', '00', '10', '25']) {
      const s = `${a}.${b}.${c}.${d}`;
      expect(isIpv4(s), s).toBe(DOTTED.test(s));
      checked++;
    }
    for (const s of ['1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4\n', '１.2.3.4', '', '1234567890123456', '0.0.0.0', '255.255.255.255']) expect(isIpv4(s), JSON.stringify(s)).toBe(DOTTED.test(s));
    expect(checked).toBe(27 * 4 * 27 * 6);
  });

  it('converts to an unsigned integer and back, and refuses anything else with the value in the message', () => {
    for (const s of ['0.0.0.0', '10.0.0.1', '192.168.255.254', '255.255.255.255', '128.0.0.1']) {
      const [a, b, c, d] = s.split('.').map(Number) as [number, number, number, number];
      expect(ipToInt(s)).toBe(a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8 + d);
      expect(intToIp(ipToInt(s))).toBe(s);
    }
    expect(() => ipToInt('10.0.0.256')).toThrow('not an IPv4 address: "10.0.0.256"');
    expect(() => ipToInt('10.0.0.01')).toThrow(/not an IPv4 address/);
  });
});
