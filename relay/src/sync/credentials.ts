import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';

/**
 * What enrollment leaves in the state dir: the relay token (the relay's only credential to the
 * cloud), its ids, and the boot key for direct-mode URLs. Secrets: the file is 0600 and the dir 0700.
 */
export const Credentials = z.object({
  cloudUrl: z.string().url(),
  relayId: z.string(),
  siteId: z.string(),
  token: z.string().min(1),
  bootKey: z.string().min(1),
  bootKeyId: z.string().min(1),
  enrolledAt: z.string(),
});
export type Credentials = z.infer<typeof Credentials>;

export const CREDENTIALS_FILE = 'credentials.json';

export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function saveCredentials(dir: string, c: Credentials): void {
  ensureStateDir(dir);
  writeFileAtomic(join(dir, CREDENTIALS_FILE), `${JSON.stringify(c, null, 2)}\n`, 0o600);
}

/** The saved credentials, or null when this relay was never enrolled. Throws on a damaged file. */
export function loadCredentials(dir: string): Credentials | null {
  let text: string;
  try {
    text = readFileSync(join(dir, CREDENTIALS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return Credentials.parse(JSON.parse(text));
}

/** The relay's own secret for image grants (http/file-grants.ts), made on first run. */
export function grantKey(dir: string): Buffer {
  const path = join(dir, 'grant.key');
  try {
    const k = readFileSync(path);
    if (k.length >= 32) return k;
  } catch {
    // first run
  }
  const k = randomBytes(32);
  writeFileAtomic(path, k, 0o600);
  return k;
}
