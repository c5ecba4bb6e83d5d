import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The asynchronous twin of sync/atomic-file.ts `writeFileAtomic`, for writes that happen while the
 * relay is serving (the image cache's index and metadata, the sync snapshot): the fsyncs run on
 * libuv's thread pool, so the event loop that also answers DHCP never waits for the disk. A crash leaves the old file or the new one, never a
 * torn one: temp file, fsync, rename over, fsync the directory (the rename's own durability).
 *
 * `tag` keeps two writers of the same path (a write-behind flush, a final write at shutdown) from
 * sharing a temp file.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array, tag = 'w', mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${tag}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** Makes the renames and unlinks already done in `dir` survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
