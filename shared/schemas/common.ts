import { z } from 'zod';
import { normalizeMac } from '../mac.ts';

/** Names shown to people and used in CLI commands: short, no control characters. */
export const Name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._:+@-]*$/, 'letters, digits, space and . _ : + @ - only, starting with a letter or digit');

export const Description = z.string().max(1024).regex(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, 'no control characters');

export const Timestamp = z.iso.datetime().meta({ description: 'RFC 3339 timestamp, UTC' });

/** A MAC in any common spelling in, canonical `aa:bb:cc:dd:ee:ff` out. */
export const Mac = z
  .string()
  .max(40)
  .transform((s, ctx) => {
    const mac = normalizeMac(s);
    if (!mac) {
      ctx.addIssue({ code: 'custom', message: 'not a MAC address (expected e.g. 52:54:00:12:34:56)' });
      return z.NEVER;
    }
    return mac;
  })
  .meta({ description: 'MAC address; any of 52:54:00:12:34:56, 52-54-00-12-34-56, 5254.0012.3456, 525400123456' });

/** SMBIOS system UUID, canonical lower case. */
export const SmbiosUuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'not a UUID')
  .transform((s) => s.toLowerCase());

export const Hostname = z
  .string()
  .max(253)
  .regex(/^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, 'not a valid hostname');

export const Serial = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/**
 * Machine architectures, as the relay derives them from DHCP option 93 (RFC 4578). HTTP boot is
 * a transport, not an architecture, so it does not appear here.
 */
export const Arch = z.enum(['bios', 'uefi-ia32', 'uefi-x64', 'uefi-arm32', 'uefi-arm64']);
export type Arch = z.infer<typeof Arch>;

/** Kubernetes-like labels; values are restricted so they can be used in selectors and scripts. */
export const LabelKey = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$/, 'lower-case letters, digits and . _ / - inside');
export const LabelValue = z.string().max(63).regex(/^[A-Za-z0-9._-]*$/, 'letters, digits and . _ - only');
export const Labels = z
  .record(LabelKey, LabelValue)
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels')
  .meta({ description: 'key/value labels, at most 32' });
export type Labels = z.infer<typeof Labels>;

export const Limit = z.coerce.number().int().min(1).max(500).default(100);
export const Cursor = z.string().max(64).regex(/^[a-z]+_[0-9a-z]{26}$/, 'not a cursor');

export function page<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z.string().nullable().meta({ description: 'pass as ?cursor= for the next page; null on the last' }),
    })
    .meta({ id });
}

export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      requestId: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: 'Error' });
