/**
 * Signed image URLs handed to iPXE in boot scripts.
 *
 * Contract with the file route (GET/HEAD `/v1/files/{imageId}`), which verifies exactly this:
 *
 *     <base>/v1/files/<imageId>?sig=<token>
 *
 * - `<base>` is where iPXE reaches the cloud or the relay (scheme, host, optional port; no path);
 * - `<token>` is `signToken(activeSigningKey(db), { method: 'GET', path: '/v1/files/<imageId>',
 *   site: <the site the boot belongs to>, expiresAt: now + ttl })` (shared/crypto/signed-url.ts);
 *   a GET token also admits HEAD;
 * - the TTL defaults to one hour and never exceeds MAX_TTL_SECONDS.
 *
 * Image ids are `img_` + base32, so the path needs no percent-encoding and signs as it is sent.
 */
import { MAX_TTL_SECONDS, signToken, type SigningKey } from '../../../shared/crypto/signed-url.ts';
import type { SqlDatabase } from '../ports/sql-database.ts';
import { activeSigningKey } from './signing-keys.ts';

export const DEFAULT_FILE_URL_TTL_SECONDS = 3600;

export interface FileUrlDeps {
  db: SqlDatabase;
}

export interface FileUrlsInput {
  base: string;
  imageIds: readonly string[];
  siteId: string;
  nowSec: number;
  ttlSeconds?: number;
}

export function filePath(imageId: string): string {
  return `/v1/files/${imageId}`;
}

/** Signs one URL with an already loaded key (for callers that sign several in one request). */
export async function signFileUrl(key: SigningKey, input: { base: string; imageId: string; siteId: string; nowSec: number; ttlSeconds?: number }): Promise<string> {
  const ttl = Math.min(Math.max(1, Math.floor(input.ttlSeconds ?? DEFAULT_FILE_URL_TTL_SECONDS)), MAX_TTL_SECONDS);
  const path = filePath(input.imageId);
  const token = await signToken(key, { method: 'GET', path, site: input.siteId, expiresAt: input.nowSec + ttl }, input.nowSec);
  return `${input.base}${path}?sig=${token}`;
}

/** URLs for several images, reading the signing keys once. */
export async function fileUrls(deps: FileUrlDeps, input: FileUrlsInput): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (input.imageIds.length === 0) return out;
  return signFileUrls(await activeSigningKey(deps.db, input.nowSec * 1000), input);
}

/** URLs for several images with an already loaded key. */
export async function signFileUrls(key: SigningKey, input: FileUrlsInput): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const imageId of new Set(input.imageIds)) {
    out.set(imageId, await signFileUrl(key, { base: input.base, imageId, siteId: input.siteId, nowSec: input.nowSec, ttlSeconds: input.ttlSeconds }));
  }
  return out;
}

export async function fileUrl(deps: FileUrlDeps, input: { base: string; imageId: string; siteId: string; nowSec: number; ttlSeconds?: number }): Promise<string> {
  const urls = await fileUrls(deps, { ...input, imageIds: [input.imageId] });
  return urls.get(input.imageId)!;
}
