/**
 * The radvd.conf the relay writes (pure). One `interface` block per LAN, every value chosen so that
 * the relay announces itself as a link with nothing to configure, never as a router:
 *
 * - AdvManagedFlag off, AdvOtherConfigFlag off (M=0, O=0): iPXE starts DHCPv6 when either is set and
 *   then waits for it too (src/net/ndp.c, ipv6conf_rx_router_advertisement); with both clear it ends
 *   its IPv6 configuration at the first RA.
 * - AdvDefaultLifetime 0: "not a default router" (RFC 4861 §4.2, §6.2.1). radvd already sends 0 while
 *   IPv6 forwarding is off (send.c, add_ra_header), but a relay host with forwarding on (a router, a
 *   container host) must not start attracting the LAN's IPv6 traffic either, so it is said explicitly.
 * - AdvCurHopLimit 0 ("unspecified", RFC 4861 §4.2): radvd writes a non-zero value into the relay's
 *   own /proc/sys/net/ipv6/conf/<if>/hop_limit (radvd.c, config_interface), which an unprivileged,
 *   ProtectKernelTunables= relay cannot and should not do.
 * - AdvRASolicitedUnicast on (RFC 7772; radvd's default, stated): a Router Solicitation is answered at
 *   once with a unicast RA. A multicast answer would wait up to MinDelayBetweenRAs (3 s) plus a random
 *   0.5 s (process.c, process_rs) — longer than the 2025 iPXE's whole 3.9 s wait.
 * - MaxRtrAdvInterval 4, MinRtrAdvInterval 3: radvd's smallest values without Mobile IPv6 options, so
 *   a client that missed the answer to its solicitation still hears an RA within 4 s.
 * - IgnoreIfMissing on: a LAN interface that appears later (a VLAN, a bridge made after boot) is
 *   picked up when it does, instead of radvd refusing to start.
 * - A prefix, when given: on-link and autonomous (hosts form SLAAC addresses), no router address.
 */
export interface RadvdInterface {
  name: string;
  /** A canonical /64 (see parseRaPrefix), or null for an RA without a Prefix Information option. */
  prefix: string | null;
}

/** Linux interface names: at most 15 bytes (IFNAMSIZ − 1), characters radvd's config lexer reads as one word. */
export const INTERFACE_NAME = /^[A-Za-z0-9_.@-]{1,15}$/;

export function renderRadvdConf(interfaces: readonly RadvdInterface[]): string {
  const blocks = interfaces.map((i) => {
    if (!INTERFACE_NAME.test(i.name)) throw new Error(`interface name ${JSON.stringify(i.name)} cannot be written into radvd.conf`);
    const prefix = i.prefix
      ? ['', `\tprefix ${i.prefix} {`, '\t\tAdvOnLink on;', '\t\tAdvAutonomous on;', '\t\tAdvRouterAddr off;', '\t};']
      : ['\t# No prefix: the RA only tells clients that no router will configure them.'];
    return [
      `interface ${i.name} {`,
      '\tAdvSendAdvert on;',
      '\tIgnoreIfMissing on;',
      '\tAdvManagedFlag off;',
      '\tAdvOtherConfigFlag off;',
      '\tAdvDefaultLifetime 0;',
      '\tAdvCurHopLimit 0;',
      '\tAdvRASolicitedUnicast on;',
      '\tMaxRtrAdvInterval 4;',
      '\tMinRtrAdvInterval 3;',
      ...prefix,
      '};',
    ].join('\n');
  });
  return `# Written by edgeboot-relay at every start (relay/src/ra/); change relay.toml, not this file.\n\n${blocks.join('\n\n')}\n`;
}
