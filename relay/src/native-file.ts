/**
 * Where one of the relay's native parts (relay/build/native.ts) is:
 * - in the packaged executable (scripts/package-relay.ts) it is the SEA asset `native/<name>`, copied
 *   once per build into `<state_dir>/native/<hash>/` (written beside and renamed into place);
 * - run as the bundle, it is beside it (relay/dist/<name>, written by `npm run build:relay`), and
 *   relay/dist when run from the sources.
 * Null when there is none: the caller goes without it (and says so).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as sea from 'node:sea';
import { writeFileAtomic } from './sync/atomic-file.ts';

export const nativeAsset = (name: string) => `native/${name}`;

export function nativeFile(name: string, stateDir: string): string | null {
  if (sea.isSea()) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(sea.getAsset(nativeAsset(name)));
    } catch {
      return null;
    }
    const dir = join(stateDir, 'native', createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    const path = join(dir, name);
    if (existsSync(path)) return path;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(path, bytes, 0o755);
    return path;
  }
  const beside = import.meta.filename.endsWith('.ts') ? resolve(import.meta.dirname, '../dist', name) : join(dirname(import.meta.filename), name);
  return existsSync(beside) ? beside : null;
}
