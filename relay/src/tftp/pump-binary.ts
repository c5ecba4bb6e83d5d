/**
 * Where `edgeboot-tftp-pump` (relay/native/tftp-pump.c, the native TFTP data path) is:
 * - in the packaged executable (scripts/package-relay.ts) it is the SEA asset `native/edgeboot-tftp-pump`,
 *   copied once per build into `<state_dir>/native/<hash>/` (written beside and renamed into place);
 * - run as the bundle, it is beside it (relay/dist/edgeboot-tftp-pump, written by `npm run build:relay`),
 *   and relay/dist when run from the sources.
 * Null when there is none: the relay then sends TFTP blocks from Node (and says so).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as sea from 'node:sea';
import { writeFileAtomic } from '../sync/atomic-file.ts';

export const PUMP_NAME = 'edgeboot-tftp-pump';
export const PUMP_ASSET = `native/${PUMP_NAME}`;

export function pumpBinary(stateDir: string): string | null {
  if (sea.isSea()) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(sea.getAsset(PUMP_ASSET));
    } catch {
      return null;
    }
    const dir = join(stateDir, 'native', createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    const path = join(dir, PUMP_NAME);
    if (existsSync(path)) return path;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(path, bytes, 0o755);
    return path;
  }
  const beside = import.meta.filename.endsWith('.ts') ? resolve(import.meta.dirname, '../../dist', PUMP_NAME) : join(dirname(import.meta.filename), PUMP_NAME);
  return existsSync(beside) ? beside : null;
}
