import { createHash } from 'node:crypto';
import type { Sha256Hex } from '../../../shared/sync/snapshot-version.ts';

/** node:crypto's SHA-256 for snapshot versions (shared/sync/snapshot-version.ts says why). */
export const nativeSha256Hex: Sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');
