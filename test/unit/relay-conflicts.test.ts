import { describe, expect, it } from 'vitest';
import { lanConflict, relayConflicts } from '../../shared/relay-conflicts.ts';
import { RelayLan } from '../../shared/schemas/access.ts';

const dhcp = (subnet: string, first: string, last: string): RelayLan => ({ interface: 'eth0', subnet, mode: 'dhcp', range: [first, last], relayed: false });
const proxy = (subnet: string): RelayLan => ({ interface: 'eth0', subnet, mode: 'proxy', range: null, relayed: false });

describe('relay conflicts (split DHCP pools among a site’s relays)', () => {
  it('reports two DHCP relays whose ranges on one subnet overlap, on both relays, naming the other', () => {
    const found = relayConflicts([
      { id: 'relay_a', name: 'rack-a', lans: [dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.149')] },
      { id: 'relay_b', name: 'rack-b', lans: [dhcp('10.0.0.0/24', '10.0.0.140', '10.0.0.199')] },
    ]);
    expect(found.get('relay_a')).toEqual([{ relayId: 'relay_b', relayName: 'rack-b', subnet: '10.0.0.0/24', reason: 'ranges overlap: 10.0.0.100–10.0.0.149 and 10.0.0.140–10.0.0.199' }]);
    expect(found.get('relay_b')).toEqual([{ relayId: 'relay_a', relayName: 'rack-a', subnet: '10.0.0.0/24', reason: 'ranges overlap: 10.0.0.140–10.0.0.199 and 10.0.0.100–10.0.0.149' }]);
  });

  it('accepts split pools: disjoint ranges on one subnet, even adjacent ones', () => {
    const found = relayConflicts([
      { id: 'relay_a', name: 'a', lans: [dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.149')] },
      { id: 'relay_b', name: 'b', lans: [dhcp('10.0.0.0/24', '10.0.0.150', '10.0.0.199')] },
    ]);
    expect([...found.entries()]).toEqual([['relay_a', []], ['relay_b', []]]);
  });

  it('counts a range sharing only its last address with the other’s first as overlapping', () => {
    expect(lanConflict(dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.150'), dhcp('10.0.0.0/24', '10.0.0.150', '10.0.0.199'))).toBe('ranges overlap: 10.0.0.100–10.0.0.150 and 10.0.0.150–10.0.0.199');
  });

  it('does not call a proxy relay beside a DHCP relay on the same subnet a conflict, nor two proxies', () => {
    expect(lanConflict(dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.199'), proxy('10.0.0.0/24'))).toBeNull();
    expect(lanConflict(proxy('10.0.0.0/24'), dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.199'))).toBeNull();
    expect(lanConflict(proxy('10.0.0.0/24'), proxy('10.0.0.0/24'))).toBeNull();
  });

  it('compares overlapping subnets of different sizes: overlapping ranges, or one wire given two masks', () => {
    expect(lanConflict(dhcp('10.0.0.0/16', '10.0.0.10', '10.0.0.20'), dhcp('10.0.0.0/24', '10.0.0.15', '10.0.0.30'))).toBe('ranges overlap: 10.0.0.10–10.0.0.20 and 10.0.0.15–10.0.0.30');
    expect(lanConflict(dhcp('10.0.0.0/16', '10.0.1.10', '10.0.1.20'), dhcp('10.0.0.0/24', '10.0.0.15', '10.0.0.30'))).toBe('both lease on one network with different subnets: 10.0.0.0/16 and 10.0.0.0/24');
  });

  it('ignores DHCP relays on different subnets, even with the same host numbers', () => {
    expect(lanConflict(dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.199'), dhcp('10.0.1.0/24', '10.0.1.100', '10.0.1.199'))).toBeNull();
  });

  it('takes a DHCP LAN reported without a range as its whole subnet', () => {
    const noRange: RelayLan = { interface: null, subnet: '10.0.0.0/24', mode: 'dhcp', range: null, relayed: true };
    expect(lanConflict(noRange, dhcp('10.0.0.0/24', '10.0.0.200', '10.0.0.210'))).toBe('ranges overlap: 10.0.0.0–10.0.0.255 and 10.0.0.200–10.0.0.210');
  });

  it('lists one conflict per colliding pair of LANs, ordered by the other relay’s name, and none for a relay that never reported', () => {
    const found = relayConflicts([
      { id: 'relay_1', name: 'zeta', lans: [dhcp('10.0.0.0/24', '10.0.0.10', '10.0.0.20'), dhcp('10.0.5.0/24', '10.0.5.10', '10.0.5.20')] },
      { id: 'relay_2', name: 'alpha', lans: [dhcp('10.0.5.0/24', '10.0.5.15', '10.0.5.16')] },
      { id: 'relay_3', name: 'mid', lans: [dhcp('10.0.0.0/24', '10.0.0.20', '10.0.0.25')] },
      { id: 'relay_4', name: 'old', lans: null },
    ]);
    expect(found.get('relay_1')!.map((c) => `${c.relayName} ${c.subnet}`)).toEqual(['alpha 10.0.5.0/24', 'mid 10.0.0.0/24']);
    expect(found.get('relay_4')).toEqual([]);
    expect(found.get('relay_2')!.map((c) => c.relayName)).toEqual(['zeta']);
  });

  it('refuses a reported LAN whose range is reversed or outside its subnet, or whose subnet has host bits', () => {
    expect(RelayLan.safeParse(dhcp('10.0.0.0/24', '10.0.0.200', '10.0.0.100')).success).toBe(false);
    expect(RelayLan.safeParse(dhcp('10.0.0.0/24', '10.0.0.100', '10.0.1.5')).success).toBe(false);
    expect(RelayLan.safeParse(dhcp('10.0.0.1/24', '10.0.0.100', '10.0.0.110')).success).toBe(false);
    expect(RelayLan.safeParse({ ...proxy('10.0.0.0/24'), extra: 1 }).success).toBe(false);
    expect(RelayLan.safeParse(dhcp('10.0.0.0/24', '10.0.0.100', '10.0.0.110')).success).toBe(true);
  });
});
