import { z } from 'zod';
import { MAX_TTL_SECONDS } from '../crypto/signed-url.ts';
import { Timestamp } from './common.ts';

/** Asking for a signed `/v1/files` URL of an image, to hand to a machine of a site. */
export const SignedUrlCreate = z
  .strictObject({
    siteId: z.string().min(1).max(64).meta({ description: 'the site the URL is handed to; carried, signed, in the token' }),
    ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).default(3600).meta({ description: `lifetime, 1 s to ${MAX_TTL_SECONDS} s` }),
  })
  .meta({ id: 'SignedUrlCreate' });

export const SignedUrl = z
  .object({
    url: z.string().meta({ description: 'absolute URL; GET and HEAD, Range supported, no bearer token needed' }),
    expiresAt: Timestamp,
  })
  .meta({ id: 'SignedUrl' });
export type SignedUrl = z.infer<typeof SignedUrl>;

/** A URL signing key as the API shows it: never its secret. */
export const SigningKeyInfo = z
  .object({
    kid: z.string(),
    createdAt: Timestamp,
    retiredAt: Timestamp.nullable().meta({ description: 'null for the key that signs new URLs; retired keys still verify' }),
  })
  .meta({ id: 'SigningKey' });
export type SigningKeyInfo = z.infer<typeof SigningKeyInfo>;
