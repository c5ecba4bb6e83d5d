import { z } from 'zod';
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

export const Heartbeat = z.strictObject({ version: Version.optional(), address: Address.optional() }).meta({ id: 'Heartbeat' });

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
