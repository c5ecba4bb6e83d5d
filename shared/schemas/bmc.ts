import { z } from 'zod';
import { MAX_SEALED_LENGTH } from '../crypto/seal.ts';
import { Timestamp } from './common.ts';

/**
 * Machines' BMCs and the power jobs relays run against them (issue 15). Passwords appear here only
 * sealed to a relay (shared/crypto/seal.ts); no schema has a field for one in clear.
 */

export const BmcProtocol = z.enum(['ipmi', 'redfish']);
export type BmcProtocol = z.infer<typeof BmcProtocol>;

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$/;

/** IPMI: `host` or `host:port` (UDP 623 when absent). Redfish: the service root's origin, https (or http for a lab). */
export const BmcAddress = z.string().min(1).max(256);

export function bmcAddressProblem(protocol: BmcProtocol, address: string): string | null {
  if (protocol === 'ipmi') return HOST.test(address) ? null : 'an IPMI address is host or host:port (e.g. 10.0.5.21 or 10.0.5.21:623)';
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    return 'a Redfish address is a URL, e.g. https://10.0.5.21';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'a Redfish URL is https:// (or http:// in a lab)';
  if (u.username || u.password) return 'put the user in --user and the password on stdin, not in the URL';
  return null;
}

/** A SHA-256 certificate fingerprint: 64 hex digits, colons allowed; stored lower-case without colons. */
export const TlsFingerprint = z
  .string()
  .max(95)
  .transform((s) => s.replaceAll(':', '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 fingerprint: 64 hex digits (colons allowed)'));

export const BmcUsername = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
export const RedfishSystemId = z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -');
export const Sealed = z.string().min(1).max(MAX_SEALED_LENGTH).regex(/^s1\.[A-Za-z0-9_.-]+$/, 'a sealed credential (s1.…)');

export const SealedCredential = z.strictObject({ relayId: z.string().min(1).max(64), sealed: Sealed });

export const BmcSet = z
  .strictObject({
    protocol: BmcProtocol,
    address: BmcAddress,
    username: BmcUsername,
    systemId: RedfishSystemId.nullable().optional().meta({ description: 'Redfish: the ComputerSystem id (default: the only member of /redfish/v1/Systems)' }),
    tlsFingerprint: TlsFingerprint.nullable().optional().meta({ description: "Redfish: pin the BMC's certificate by its SHA-256 fingerprint" }),
    credentials: z
      .array(SealedCredential)
      .min(1)
      .max(16)
      .meta({ description: 'the password sealed to each relay of the machine\'s site (GET …/bmc/recipients gives their keys)' }),
  })
  .superRefine((b, ctx) => {
    const problem = bmcAddressProblem(b.protocol, b.address);
    if (problem) ctx.addIssue({ code: 'custom', path: ['address'], message: problem });
    if (b.protocol === 'ipmi' && (b.systemId || b.tlsFingerprint)) ctx.addIssue({ code: 'custom', path: ['protocol'], message: 'systemId and tlsFingerprint are for Redfish' });
  })
  .meta({ id: 'BmcSet' });
export type BmcSet = z.infer<typeof BmcSet>;

export const Bmc = z
  .object({
    machineId: z.string(),
    protocol: BmcProtocol,
    address: z.string(),
    username: z.string(),
    systemId: z.string().nullable(),
    tlsFingerprint: z.string().nullable(),
    sealedFor: z.array(z.string()).meta({ description: 'relays holding a credential for this machine (the ciphertext is never returned)' }),
    missingFor: z.array(z.string()).meta({ description: "relays of the machine's site with no credential (e.g. enrolled later): set the BMC again" }),
    updatedAt: Timestamp,
  })
  .meta({ id: 'Bmc' });
export type Bmc = z.infer<typeof Bmc>;

export const BmcRecipients = z
  .object({
    machineId: z.string(),
    siteId: z.string(),
    relays: z.array(z.object({ relayId: z.string(), name: z.string(), publicKey: z.string() })),
  })
  .meta({ id: 'BmcRecipients' });
export type BmcRecipients = z.infer<typeof BmcRecipients>;

/** shutdown: ask the OS to shut down (ACPI; IPMI `power soft`, Redfish GracefulShutdown); off is a hard power-off. */
export const PowerAction = z.enum(['on', 'off', 'cycle', 'shutdown', 'status', 'reprovision']);
export type PowerAction = z.infer<typeof PowerAction>;
export const PowerState = z.enum(['on', 'off']);
export type PowerState = z.infer<typeof PowerState>;
export const PowerJobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'expired']);
export type PowerJobState = z.infer<typeof PowerJobState>;

/** Ten minutes by default: long enough for a relay restart, short enough that a forgotten job does not fire tomorrow. */
export const DEFAULT_JOB_DEADLINE_S = 600;

export const PowerJobCreate = z
  .strictObject({
    action: PowerAction.meta({ description: 'reprovision: next boot from the network, then power cycle (or on)' }),
    deadlineSeconds: z.number().int().min(5).max(86_400).optional().meta({ description: `how long the job may wait for a relay (default ${DEFAULT_JOB_DEADLINE_S})` }),
  })
  .meta({ id: 'PowerJobCreate' });

export const PowerJob = z
  .object({
    id: z.string(),
    machineId: z.string(),
    siteId: z.string(),
    action: PowerAction,
    state: PowerJobState,
    createdAt: Timestamp,
    deadlineAt: Timestamp,
    relayId: z.string().nullable(),
    startedAt: Timestamp.nullable(),
    finishedAt: Timestamp.nullable(),
    powerState: PowerState.nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'PowerJob' });
export type PowerJob = z.infer<typeof PowerJob>;

/** What a relay is handed: everything to reach the BMC, the password sealed to this relay only. */
export const RelayPowerJob = z.object({
  id: z.string(),
  machineId: z.string(),
  mac: z.string(),
  action: PowerAction,
  deadlineAt: Timestamp,
  bmc: z
    .object({
      protocol: BmcProtocol,
      address: z.string(),
      username: z.string(),
      systemId: z.string().nullable(),
      tlsFingerprint: z.string().nullable(),
      sealed: z.string().nullable().meta({ description: 'null: no credential sealed to this relay' }),
    })
    .nullable(),
});
export type RelayPowerJob = z.infer<typeof RelayPowerJob>;
export const RelayPowerJobs = z.object({ jobs: z.array(RelayPowerJob) }).meta({ id: 'RelayPowerJobs' });

/** Short remarks only: never a password, never a BMC's whole answer. */
export const PowerJobReport = z
  .strictObject({
    ok: z.boolean(),
    powerState: PowerState.nullable().optional(),
    error: z.string().min(1).max(512).optional(),
    durationMs: z.number().int().min(0).max(3_600_000),
    detail: z
      .record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.null()]))
      .refine((d) => Object.keys(d).length <= 8, 'at most 8 keys')
      .optional(),
  })
  .meta({ id: 'PowerJobReport' });
export type PowerJobReport = z.infer<typeof PowerJobReport>;

export const SealKey = z.strictObject({ publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'base64url of a 32-byte X25519 public key') }).meta({ id: 'SealKey' });
