import { z } from 'zod';
import { ipToInt, isIpv4 } from '../ipv4.ts';
import { cidrBounds } from '../relay-conflicts.ts';
import { Name, Timestamp } from './common.ts';

/**
 * admin: everything. operator: read/write within its sites, read the global catalog (images,
 * profiles). viewer: read-only, optionally limited to sites. relay: its own site's relay endpoints.
 */
export const Role = z.enum(['admin', 'operator', 'viewer', 'relay']);
export type Role = z.infer<typeof Role>;

export const Token = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    siteIds: z.array(z.string()).nullable().meta({ description: 'sites the token is limited to; null = all' }),
    relayId: z.string().nullable(),
    prefix: z.string().meta({ description: 'first characters of the secret, to recognise it' }),
    createdAt: Timestamp,
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
    lastUsedAt: Timestamp.nullable(),
  })
  .meta({ id: 'Token' });
export type Token = z.infer<typeof Token>;

export const TokenCreate = z
  .strictObject({
    name: Name,
    role: z.enum(['admin', 'operator', 'viewer']),
    siteIds: z.array(z.string().max(64)).min(1).max(100).optional(),
    expiresInSeconds: z.number().int().min(60).max(5 * 366 * 86400).optional(),
  })
  .meta({ id: 'TokenCreate' });

export const TokenCreated = Token.extend({ token: z.string().meta({ description: 'the secret; shown only this once' }) }).meta({ id: 'TokenCreated' });

const Ipv4 = z.string().max(15).refine(isIpv4, 'an IPv4 address');

/**
 * One LAN a relay serves, as it reports it in its heartbeat (relay.toml: `interface`, `mode`,
 * `[dhcp] subnet`/`range`). The cloud compares the LANs of a site's relays (shared/relay-conflicts.ts).
 */
export const RelayLan = z
  .strictObject({
    interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'a network interface name').nullable(),
    subnet: z.string().max(18).refine((s) => cidrBounds(s) !== null, 'an IPv4 CIDR block with host bits zero, e.g. 10.0.0.0/24'),
    mode: z.enum(['proxy', 'dhcp']),
    /** The addresses this relay leases (mode dhcp); null in proxy mode. */
    range: z.tuple([Ipv4, Ipv4]).nullable(),
    /** Reached through a DHCP relay agent (giaddr) rather than on the relay's own wire. */
    relayed: z.boolean(),
  })
  .superRefine((l, ctx) => {
    const net = cidrBounds(l.subnet);
    if (!l.range || !net || !l.range.every(isIpv4)) return;
    const [first, last] = l.range.map(ipToInt) as [number, number];
    if (last < first) ctx.addIssue({ code: 'custom', path: ['range'], message: 'the last address comes before the first' });
    for (const ip of [first, last]) if (ip < net.first || ip > net.last) ctx.addIssue({ code: 'custom', path: ['range'], message: `the range is outside ${l.subnet}` });
  })
  .meta({ id: 'RelayLan' });
export type RelayLan = z.infer<typeof RelayLan>;

/** Another relay of the site whose reported LANs collide with this relay's (shared/relay-conflicts.ts). */
export const RelayConflict = z
  .object({ relayId: z.string(), relayName: z.string(), subnet: z.string(), reason: z.string() })
  .meta({ id: 'RelayConflict' });

export const Relay = z
  .object({
    id: z.string(),
    siteId: z.string(),
    name: z.string(),
    version: z.string().nullable(),
    address: z.string().nullable(),
    lastSeenAt: Timestamp.nullable(),
    createdAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    /** The release the cloud wants it to run (its site's pin, else the fleet's choice); null: none chosen. */
    desiredVersion: z.string().nullable().optional(),
    /** What the relay last reported about an update (relay/src/update/updater.ts). */
    update: z
      .object({ state: z.string(), version: z.string(), reason: z.string().nullable(), at: Timestamp })
      .nullable()
      .optional(),
    /** The LANs it last reported in a heartbeat; null: it never did (relays before issue 14). */
    lans: z.array(RelayLan).nullable(),
    /**
     * Computed at each read among the site's relays that are not revoked: whose LANs collide with
     * this one's (overlapping DHCP ranges on one subnet, …). Empty when none, and for a revoked relay.
     */
    conflicts: z.array(RelayConflict),
  })
  .meta({ id: 'Relay' });
export type Relay = z.infer<typeof Relay>;

export const EnrollmentCodeCreate = z
  .strictObject({ expiresInSeconds: z.number().int().min(60).max(86400).default(3600) })
  .meta({ id: 'EnrollmentCodeCreate' });
export const EnrollmentCode = z
  .object({ code: z.string(), siteId: z.string(), expiresAt: Timestamp })
  .meta({ id: 'EnrollmentCode' });

const Version = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/);
const Address = z.string().max(64).regex(/^[0-9a-fA-F:.]+$/, 'an IPv4 or IPv6 address');

export const Enroll = z
  .strictObject({ code: z.string().min(1).max(64), name: Name, version: Version.optional(), address: Address.optional() })
  .meta({ id: 'Enroll' });
export const Enrolled = z
  .object({
    relay: Relay,
    token: z.string().meta({ description: 'relay credential; shown only this once' }),
    bootKey: z.string().meta({ description: 'base64url HMAC key for signing direct-mode boot URLs (GET /v1/boot/{mac}); shown only this once' }),
    bootKeyId: z.string().meta({ description: 'the key id (kid) those signed URLs carry' }),
  })
  .meta({ id: 'Enrolled' });

/** A relay is alive; what it runs and serves (`lans`: at most 32, as relay.toml's `[[lan]]`). Fields left out keep their last value. */
export const Heartbeat = z
  .strictObject({ version: Version.optional(), address: Address.optional(), lans: z.array(RelayLan).max(32).optional() })
  .meta({ id: 'Heartbeat' });

export const AuditEntry = z
  .object({
    id: z.number().int(),
    at: Timestamp,
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    siteId: z.string().nullable(),
    result: z.string(),
    status: z.number().int(),
    requestId: z.string(),
  })
  .meta({ id: 'AuditEntry' });
