import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryObjectStore } from '../../cloud/src/adapters/memory-object-store.ts';
import { fsObjectStore } from '../../cloud/src/adapters/node/fs-object-store.ts';
import { lengthPreservingFetch } from '../../cloud/src/adapters/node/length-preserving-fetch.ts';
import { s3ObjectStore } from '../../cloud/src/adapters/s3-object-store.ts';
import type { ObjectStore } from '../../cloud/src/ports/object-store.ts';
import { startLocalS3 } from '../support/miniflare-s3.ts';
import { objectStoreContract, pattern } from './object-store.contract.ts';

const memory = memoryObjectStore();
objectStoreContract('memory', () => memory);

let dir = '';
let folder: ObjectStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeboot-objects-'));
  folder = fsObjectStore(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));
objectStoreContract('folder', () => folder);

describe('folder store specifics', () => {
  const stream = (b: Uint8Array<ArrayBuffer>) => new Blob([b]).stream();

  it.each(['../escape', '/abs', 'a//b', 'a/../b', 'Upper', 'a/', '', 'a\\b', 'x'.repeat(513)])('refuses the key %j', async (key) => {
    await expect(folder.put(key, stream(pattern(1)), { size: 1, contentType: 'text/plain' })).rejects.toThrow(/invalid object key/);
    await expect(folder.get(key)).rejects.toThrow(/invalid object key/);
  });

  it('refuses an upload id that is not one of its own', async () => {
    await expect(folder.uploadPart('k', '../../objects', 1, stream(pattern(1)), 1)).rejects.toThrow(/no such multipart upload/);
    await expect(folder.abortMultipart('k', '../x')).rejects.toThrow(/no such multipart upload/);
  });

  it('leaves no temp file behind after a refused write', async () => {
    await expect(folder.put('leftover', stream(pattern(5)), { size: 6, contentType: 'text/plain' })).rejects.toThrow();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});

let s3: ObjectStore;
let s3NodeHttp: ObjectStore;
let stopS3: (() => Promise<void>) | undefined;
beforeAll(async () => {
  const local = await startLocalS3();
  stopS3 = local.dispose;
  s3 = s3ObjectStore(local.config);
  s3NodeHttp = s3ObjectStore({ ...local.config, fetch: lengthPreservingFetch });
}, 60_000);
afterAll(() => stopS3?.());
objectStoreContract("S3 (Miniflare's local R2 S3 API)", () => s3);
// The transport the Deno entry uses, since Deno's fetch drops Content-Length from streamed bodies.
objectStoreContract("S3 over node:http (Miniflare's local R2 S3 API)", () => s3NodeHttp);
