import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type { ByteRange, ObjectBody, ObjectInfo, ObjectStore } from '../../ports/object-store.ts';

/** Object keys are made by the app; anything else is refused before it becomes a path. */
const KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

function checkKey(key: string): void {
  if (!KEY.test(key) || key.length > 512) throw new Error(`invalid object key ${JSON.stringify(key)}`);
}

/**
 * Objects as files under a root folder (Node's and Deno's embedded default). Writes go to a temp
 * file and are renamed into place, so a reader never sees half an object. Metadata (type, etag)
 * sits beside each object in `<file>.meta.json`.
 */
export function fsObjectStore(root: string): ObjectStore {
  const file = (key: string) => join(root, 'objects', key);
  const uploadDir = (id: string) => join(root, 'multipart', id);

  const writeStream = async (path: string, body: ReadableStream<Uint8Array>, size: number): Promise<void> => {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    let written = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        written += chunk.byteLength;
        if (written > size) throw new Error(`body longer than the declared ${size} bytes`);
        ctl.enqueue(chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(body.pipeThrough(counter) as never), createWriteStream(tmp));
      if (written !== size) throw new Error(`body of ${written} bytes, ${size} declared`);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  };

  const info = async (key: string): Promise<ObjectInfo | null> => {
    try {
      const meta = JSON.parse(await readFile(`${file(key)}.meta.json`, 'utf8')) as { etag: string; contentType: string };
      const st = await stat(file(key));
      return { size: st.size, etag: meta.etag, contentType: meta.contentType };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };

  const writeMeta = async (key: string, contentType: string): Promise<ObjectInfo> => {
    const st = await stat(file(key));
    // The etag names this version of the object: size, mtime and inode change with every write.
    const etag = `${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}-${st.ino.toString(16)}`;
    await writeFile(`${file(key)}.meta.json`, JSON.stringify({ etag, contentType }));
    return { size: st.size, etag, contentType };
  };

  return {
    async put(key, body, { size, contentType }) {
      checkKey(key);
      await writeStream(file(key), body, size);
      return writeMeta(key, contentType);
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | null> {
      checkKey(key);
      const i = await info(key);
      if (!i) return null;
      const opts = range ? { start: range.offset, end: range.offset + range.length - 1 } : {};
      const body = Readable.toWeb(createReadStream(file(key), opts)) as ReadableStream<Uint8Array>;
      return range ? { ...i, body, range } : { ...i, body };
    },
    async head(key) {
      checkKey(key);
      return info(key);
    },
    async delete(key) {
      checkKey(key);
      await rm(file(key), { force: true });
      await rm(`${file(key)}.meta.json`, { force: true });
    },
    async createMultipart(key, contentType) {
      checkKey(key);
      const id = randomUUID();
      await mkdir(uploadDir(id), { recursive: true });
      await writeFile(join(uploadDir(id), 'upload.json'), JSON.stringify({ key, contentType }));
      return id;
    },
    async uploadPart(key, uploadId, partNumber, body, size) {
      checkKey(key);
      await readUpload(uploadDir(uploadId), key); // the upload exists and is this key's
      const path = join(uploadDir(uploadId), `${String(partNumber).padStart(5, '0')}.part`);
      await writeStream(path, body, size);
      const st = await stat(path);
      return `${partNumber}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}`;
    },
    async completeMultipart(key, uploadId, parts) {
      checkKey(key);
      const u = await readUpload(uploadDir(uploadId), key);
      const present = new Set(await readdir(uploadDir(uploadId)));
      const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
      await mkdir(dirname(file(key)), { recursive: true });
      const tmp = `${file(key)}.${randomUUID()}.tmp`;
      const out = await open(tmp, 'w');
      try {
        for (const p of ordered) {
          const name = `${String(p.partNumber).padStart(5, '0')}.part`;
          if (!present.has(name)) throw new Error(`part ${p.partNumber} missing`);
          await pipeline(createReadStream(join(uploadDir(uploadId), name)), out.createWriteStream({ autoClose: false }) as Writable);
        }
        await out.close();
        await rename(tmp, file(key));
      } catch (err) {
        await out.close().catch(() => {});
        await rm(tmp, { force: true });
        throw err;
      }
      await rm(uploadDir(uploadId), { recursive: true, force: true });
      return writeMeta(key, u.contentType);
    },
    async abortMultipart(_key, uploadId) {
      await rm(uploadDir(uploadId), { recursive: true, force: true });
    },
  };
}

async function readUpload(dir: string, key: string): Promise<{ key: string; contentType: string }> {
  const u = JSON.parse(await readFile(join(dir, 'upload.json'), 'utf8')) as { key: string; contentType: string };
  if (u.key !== key) throw new Error('upload belongs to another key');
  return u;
}
