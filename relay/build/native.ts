/**
 * Builds the relay's native parts with the system C compiler (Debian's gcc and libc6-dev; the
 * Node-API headers are the system Node's, /usr/include/node). `npm run build:relay` writes them beside the bundle, where
 * the relay looks for them (relay/src/native-file.ts); the packaged executable carries them.
 * - `edgeboot-tftp-pump` (relay/native/tftp-pump.c): the TFTP data path, a program the relay runs;
 * - `edgeboot-memory.node` (relay/native/memory.c): malloc_trim for the relay's idle memory release.
 * A build is skipped when the output is newer than its source; concurrent builds (test workers) each
 * write their own file and rename it into place.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MEMORY_ADDON_NAME } from '../src/memory-release.ts';
import { PUMP_NAME } from '../src/tftp/pump-binary.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const TFTP_PUMP_SOURCE = join(ROOT, 'relay/native/tftp-pump.c');
const RELAY_DIST = join(ROOT, 'relay/dist');
export const RELAY_DIST_PUMP = join(RELAY_DIST, PUMP_NAME);
export const MEMORY_ADDON_SOURCE = join(ROOT, 'relay/native/memory.c');

/** Both native parts, built into `dir` (beside the bundle that runs them). */
export function buildNativeParts(dir = RELAY_DIST): { pump: string; memory: string } {
  return { pump: buildTftpPump(join(dir, PUMP_NAME)), memory: buildMemoryAddon(join(dir, MEMORY_ADDON_NAME)) };
}

export function buildTftpPump(out = RELAY_DIST_PUMP): string {
  return compile(TFTP_PUMP_SOURCE, out, ['-pthread'], 'gcc libc6-dev');
}

/** The Node-API headers: those of the Node running this, or the system Node's (nodejs or libnode-dev). */
export function nodeApiHeaders(): string | null {
  const dirs = [resolve(dirname(process.execPath), '../include/node'), '/usr/include/node'];
  return dirs.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

export function buildMemoryAddon(out = join(RELAY_DIST, MEMORY_ADDON_NAME)): string {
  const headers = nodeApiHeaders();
  if (!headers) throw new Error(`cannot build ${out}: no node_api.h (the system nodejs package, or libnode-dev, has it)`);
  return compile(MEMORY_ADDON_SOURCE, out, ['-shared', '-fPIC', `-I${headers}`], 'gcc libc6-dev');
}

/** `source` compiled with the system cc into `out` (unless `out` is newer), with -Wall -Wextra -Werror; the error names the packages. */
export function compile(source: string, out: string, flags: string[], packages: string): string {
  try {
    if (statSync(out).mtimeMs >= statSync(source).mtimeMs) return out;
  } catch {
    // not built yet
  }
  const work = `${out}.tmp-${process.pid}`;
  mkdirSync(dirname(out), { recursive: true }); // a clean clone has no relay/dist yet
  try {
    execFileSync('cc', ['-O2', ...flags, '-Wall', '-Wextra', '-Werror', '-o', work, source], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(work, { force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`cannot build ${out} (apt-get install ${packages}): ${e.stderr?.toString().trim() || e.message}`);
  }
  renameSync(work, out);
  return out;
}
