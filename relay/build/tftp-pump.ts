/**
 * Builds `edgeboot-tftp-pump`, the relay's native TFTP data path (relay/native/tftp-pump.c), with the
 * system C compiler (Debian's gcc and libc6-dev). `npm run build:relay` writes it beside the bundle,
 * where the relay looks for it (relay/src/tftp/pump-binary.ts); the packaged executable carries it.
 * A build is skipped when the binary is newer than its source; concurrent builds (test workers) each
 * write their own file and rename it into place.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PUMP_NAME } from '../src/tftp/pump-binary.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const TFTP_PUMP_SOURCE = join(ROOT, 'relay/native/tftp-pump.c');
export const RELAY_DIST_PUMP = join(ROOT, 'relay/dist', PUMP_NAME);

export function buildTftpPump(out = RELAY_DIST_PUMP): string {
  try {
    if (statSync(out).mtimeMs >= statSync(TFTP_PUMP_SOURCE).mtimeMs) return out;
  } catch {
    // not built yet
  }
  const work = `${out}.tmp-${process.pid}`;
  mkdirSync(dirname(out), { recursive: true }); // a clean clone has no relay/dist yet
  try {
    execFileSync('cc', ['-O2', '-pthread', '-Wall', '-Wextra', '-Werror', '-o', work, TFTP_PUMP_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(work, { force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`cannot build ${out} (apt-get install gcc libc6-dev): ${e.stderr?.toString().trim() || e.message}`);
  }
  renameSync(work, out);
  return out;
}
