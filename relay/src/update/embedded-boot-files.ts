/**
 * The packaged executable (a Node single-executable application, scripts/package-relay.ts) carries
 * the relay's iPXE binaries as SEA assets `boot/<name>`, with `boot/manifest.json`. TFTP serves
 * files from a folder, so they are copied once per manifest into `<state_dir>/boot-files/<hash>/`
 * (assembled beside and renamed into place: a crash never leaves half a folder).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sea from 'node:sea';

/** The folder holding the embedded boot files, or null when this is not a packaged executable. */
export function embeddedBootFiles(stateDir: string): string | null {
  if (!sea.isSea()) return null;
  let manifest: { files: Record<string, unknown> };
  let raw: string;
  try {
    raw = sea.getAsset('boot/manifest.json', 'utf8');
    manifest = JSON.parse(raw) as { files: Record<string, unknown> };
  } catch {
    return null;
  }
  const dir = join(stateDir, 'boot-files', createHash('sha256').update(raw).digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o755 });
  for (const name of Object.keys(manifest.files)) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) continue;
    writeFileSync(join(work, name), new Uint8Array(sea.getAsset(`boot/${name}`)), { mode: 0o644 });
  }
  writeFileSync(join(work, 'manifest.json'), raw);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return dir;
}
