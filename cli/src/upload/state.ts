/**
 * What an interrupted multipart upload leaves behind so that running the same command again
 * resumes it: the upload id, in a small file named after the server, the image and the exact file
 * (path, size, modification time). A file that changed since gets another key, so a stale upload
 * is never continued with different bytes. The server remains the authority on which parts
 * arrived; this file only remembers which upload to ask about.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const SavedUpload = z.object({
  url: z.string(),
  imageId: z.string(),
  uploadId: z.string(),
  path: z.string(),
  size: z.number(),
  mtimeMs: z.number(),
  partSize: z.number(),
  startedAt: z.string(),
});
export type SavedUpload = z.infer<typeof SavedUpload>;

export type UploadKey = Pick<SavedUpload, 'url' | 'imageId' | 'path' | 'size' | 'mtimeMs'>;

export class UploadStateStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'uploads');
  }

  #file(key: UploadKey): string {
    const digest = createHash('sha256').update(JSON.stringify([key.url, key.imageId, key.path, key.size, key.mtimeMs])).digest('hex');
    return join(this.dir, `${digest.slice(0, 32)}.json`);
  }

  read(key: UploadKey): SavedUpload | null {
    try {
      const r = SavedUpload.safeParse(JSON.parse(readFileSync(this.#file(key), 'utf8')));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }

  write(s: SavedUpload): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = this.#file(s);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
    renameSync(tmp, file);
  }

  remove(key: UploadKey): void {
    rmSync(this.#file(key), { force: true });
  }

  /** Every saved upload, for `images abort-upload` without an upload id. */
  all(): SavedUpload[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    return names.flatMap((n) => {
      try {
        const r = SavedUpload.safeParse(JSON.parse(readFileSync(join(this.dir, n), 'utf8')));
        return r.success ? [r.data] : [];
      } catch {
        return [];
      }
    });
  }
}
