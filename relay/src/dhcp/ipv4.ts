/** IPv4 arithmetic for pools and subnet checks: shared with the cloud (shared/ipv4.ts). */
export * from '../../../shared/ipv4.ts';
