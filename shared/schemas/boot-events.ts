import { z } from 'zod';
import { Mac, Timestamp } from './common.ts';

/**
 * Stages of one boot, in the order a machine normally goes through them. Relays report the first
 * group (what they see on the LAN), the cloud records the rest (what it rendered, served and heard
 * back). The timeline shows them in time order whatever the source.
 */
export const RELAY_STAGES = [
  'dhcp-discover',
  'dhcp-offer',
  'dhcp-request',
  'dhcp-ack',
  'proxy-offer',
  'tftp-start',
  'tftp-done',
  'tftp-error',
  'script-fetched',
  'file-fetched',
  'file-done',
  'file-error',
  // GRUB under shim gave up (e.g. Secure Boot refused the kernel): reported through the relay.
  'loader-failed',
] as const;
export const CLOUD_STAGES = ['script-rendered', 'file-served', 'callback-started', 'callback-job', 'callback-progress', 'callback-succeeded', 'callback-failed'] as const;
/** A power job the relay ran against the machine's BMC (issue 15): recorded by the cloud from the relay's report. */
export const POWER_STAGES = ['power-job'] as const;
export const RelayStage = z.enum(RELAY_STAGES);
export const BootStage = z.enum([...RELAY_STAGES, ...CLOUD_STAGES, ...POWER_STAGES]);
export type BootStage = z.infer<typeof BootStage>;

/** Stages that come before the script is rendered: they belong to the boot that starts next. */
export const LEADING_STAGES: ReadonlySet<string> = new Set(['power-job', 'dhcp-discover', 'dhcp-offer', 'dhcp-request', 'dhcp-ack', 'proxy-offer', 'tftp-start', 'tftp-done', 'tftp-error', 'script-fetched']);

/** A small flat object: the relay's remarks (file name, bytes, error), never a payload. */
export const EventDetail = z
  .record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.null()]))
  .refine((d) => Object.keys(d).length <= 16, 'at most 16 keys');

export const RelayEvent = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{8,64}$/, '8 to 64 of A-Z a-z 0-9 _ -')
    .meta({ description: 'chosen by the relay and stable across retries: a replayed event is ignored' }),
  mac: Mac,
  stage: RelayStage,
  at: Timestamp,
  durationMs: z.number().int().min(0).max(86_400_000).optional(),
  bootId: z.string().regex(/^boot_[0-9a-z]{26}$/, 'not a boot id').optional(),
  detail: EventDetail.optional(),
});
export type RelayEvent = z.infer<typeof RelayEvent>;

/** At most 500 events, and like every JSON body at most 64 KiB: relays split batches by both. */
export const RelayEventBatch = z.strictObject({ events: z.array(RelayEvent).min(1).max(500) }).meta({ id: 'RelayEventBatch' });
export type RelayEventBatch = z.infer<typeof RelayEventBatch>;

/*
 * The hot path's check (issue 18): a storm of unknown machines is thousands of events a second, and
 * zod spends ~3 µs on each (most of it in the detail record). These functions accept a subset of what
 * the schemas accept — the canonical spelling relays send: a lower-case colon MAC, `at` exactly as
 * toISOString() writes it — and answer null for anything else, so that the caller runs the schema,
 * which stays the contract and writes the error messages. They never accept what the schema refuses
 * (test/unit/relay-event-check.test.ts compares both on generated batches), and a value they accept
 * parses to itself, so it is returned as is, without a copy.
 */
const EVENT_KEYS: ReadonlySet<string> = new Set(['id', 'mac', 'stage', 'at', 'durationMs', 'bootId', 'detail']);
const RELAY_STAGE_SET: ReadonlySet<string> = new Set(RELAY_STAGES);
const EVENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const BOOT_ID = /^boot_[0-9a-z]{26}$/;
const CANONICAL_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Two decimal digits at `i` (ISO_MS has checked they are digits). */
const d2 = (s: string, i: number) => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;

/** A real instant as toISOString writes it: fields in range, day within its month (leap years by the Gregorian rule). */
function isIsoInstant(s: unknown): boolean {
  if (typeof s !== 'string' || !ISO_MS.test(s)) return false;
  const year = d2(s, 0) * 100 + d2(s, 2);
  const month = d2(s, 5);
  const day = d2(s, 8);
  if (month < 1 || month > 12 || day < 1 || d2(s, 11) > 23 || d2(s, 14) > 59 || d2(s, 17) > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

function isPlainDetail(d: unknown): boolean {
  if (!isRecord(d)) return false;
  let n = 0;
  for (const k in d) {
    if (++n > 16 || k.length > 64 || k === '__proto__') return false;
    const v = d[k];
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'string' || v.length > 256) return false;
  }
  return true;
}

/** `e` when it is a RelayEvent in the relays' canonical spelling, else null (then ask RelayEvent). */
export function fastRelayEvent(e: unknown): RelayEvent | null {
  if (!isRecord(e)) return null;
  for (const k in e) if (!EVENT_KEYS.has(k)) return null;
  if (typeof e.id !== 'string' || !EVENT_ID.test(e.id)) return null;
  if (typeof e.mac !== 'string' || !CANONICAL_MAC.test(e.mac)) return null;
  if (typeof e.stage !== 'string' || !RELAY_STAGE_SET.has(e.stage)) return null;
  if (!isIsoInstant(e.at)) return null;
  const d = e.durationMs;
  if (d !== undefined && !(typeof d === 'number' && Number.isInteger(d) && d >= 0 && d <= 86_400_000)) return null;
  if (e.bootId !== undefined && !(typeof e.bootId === 'string' && BOOT_ID.test(e.bootId))) return null;
  if (e.detail !== undefined && !isPlainDetail(e.detail)) return null;
  return e as RelayEvent;
}

/** `b` when every event passes fastRelayEvent and the batch's own bounds hold, else null (then ask RelayEventBatch). */
export function fastRelayEventBatch(b: unknown): RelayEventBatch | null {
  if (!isRecord(b)) return null;
  const keys = Object.keys(b);
  if (keys.length !== 1 || keys[0] !== 'events') return null;
  const events = b.events;
  if (!Array.isArray(events) || events.length < 1 || events.length > 500) return null;
  for (const e of events) if (fastRelayEvent(e) === null) return null;
  return b as RelayEventBatch;
}
export const RelayEventResult = z
  .object({ accepted: z.number().int(), duplicates: z.number().int().meta({ description: 'events already stored (replays)' }) })
  .meta({ id: 'RelayEventResult' });

/** Installers call back with small bodies; the log tail of a failure is the largest. */
export const CallbackMessage = z.string().max(1024);
export const CallbackStartedBody = z.strictObject({ message: CallbackMessage.optional() }).meta({ id: 'CallbackStarted' });
export const CallbackProgressBody = z
  .strictObject({
    bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    totalBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    percent: z.number().min(0).max(100).optional(),
    rate: z.number().min(0).max(1e12).optional().meta({ description: 'bytes per second' }),
    message: CallbackMessage.optional(),
  })
  .meta({ id: 'CallbackProgress' });
export const CallbackSucceededBody = z.strictObject({ message: CallbackMessage.optional() }).meta({ id: 'CallbackSucceeded' });
export const CallbackFailedBody = z
  .strictObject({ reason: z.string().min(1).max(1024), logTail: z.string().max(64 * 1024).optional() })
  .meta({ id: 'CallbackFailed' });

export const BootState = z.enum(['rendered', 'started', 'succeeded', 'failed']);
export type BootState = z.infer<typeof BootState>;

export const CallbackResult = z.object({ bootId: z.string(), state: BootState }).meta({ id: 'CallbackResult' });

export const TimelineStage = z.object({
  id: z.string(),
  stage: BootStage,
  source: z.enum(['relay', 'cloud', 'callback']),
  at: Timestamp,
  durationMs: z.number().int().nullable().meta({ description: 'as reported, else the time to the next stage; null for the last' }),
  detail: z.record(z.string(), z.unknown()).nullable(),
});

export const TimelineBoot = z.object({
  bootId: z.string().nullable().meta({ description: 'null for events no boot record accounts for (e.g. a local-disk boot)' }),
  startedAt: Timestamp,
  endedAt: Timestamp,
  outcome: z.enum(['in-progress', 'succeeded', 'failed', 'abandoned', 'unknown']),
  profileId: z.string().nullable(),
  progress: z.record(z.string(), z.unknown()).nullable(),
  logTail: z.string().nullable(),
  stages: z.array(TimelineStage),
});

export const Timeline = z
  .object({
    machineId: z.string(),
    mac: z.string(),
    boots: z.array(TimelineBoot).meta({ description: 'newest first' }),
    truncated: z.boolean().meta({ description: 'older boots or events exist beyond this answer' }),
  })
  .meta({ id: 'Timeline' });
export type Timeline = z.infer<typeof Timeline>;
