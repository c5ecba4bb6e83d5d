import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../support/miniflare-s3.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { apiContract } from './api/index.ts';
import { call } from './target.ts';

const DENO = join(REPO_ROOT, 'node_modules/.bin/deno');

/**
 * The permissions of `npm run dev:deno`, with the temp folder in place of ./data: if the entry ever
 * needs more, these tests fail rather than the user's first start. `extra` adds network access to S3.
 */
const denoServe = (dataDir: string, ...extra: string[]) => [
  'serve',
  '--allow-env=EDGEBOOT_*',
  `--allow-read=cloud/migrations,${dataDir}`,
  `--allow-write=${dataDir}`,
  ...extra,
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  'cloud/src/entry/deno.ts',
];
const LISTENING = /listening on (http:\/\/\S+)/i;

// Objects on S3 here (Miniflare's local R2 S3 API): the Node column already covers the folder store.
describe('API contract — Deno entry over HTTP (deno serve, node:sqlite, S3)', () => {
  let entry: SpawnedEntry | undefined;
  let stopS3: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const s3 = await startLocalS3();
    stopS3 = s3.dispose;
    const { host } = new URL(s3.config.endpoint);
    entry = await spawnEntry({
      name: 'deno-entry',
      command: DENO,
      args: (dataDir) => denoServe(dataDir, `--allow-net=${host}`),
      env: {
        DENO_NO_UPDATE_CHECK: '1',
        EDGEBOOT_S3_ENDPOINT: s3.config.endpoint,
        EDGEBOOT_S3_BUCKET: s3.config.bucket,
        EDGEBOOT_S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        EDGEBOOT_S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
      },
      listening: LISTENING,
    });
    expect(entry.output()).toContain(`objects in ${s3.config.endpoint}`);
  });
  afterAll(async () => {
    await entry?.stop();
    await stopS3?.();
  });
  apiContract(() => entry!);
});

describe('Deno entry, first start (folder store, no admin token configured)', () => {
  let entry: SpawnedEntry | undefined;
  afterAll(async () => {
    await entry?.stop();
  });

  it('prints a new admin token on a first start, and that token works', async () => {
    entry = await spawnEntry({
      name: 'deno-first-start',
      command: DENO,
      args: (dataDir) => denoServe(dataDir),
      env: { DENO_NO_UPDATE_CHECK: '1', EDGEBOOT_ADMIN_TOKEN: '' },
      listening: LISTENING,
    });
    const token = /^\s+(ebt_[0-9a-z]{32})$/m.exec(entry.output())?.[1];
    expect(token, entry.output()).toBeDefined();
    const created = await call(entry, 'POST', '/v1/sites', { token, json: { name: 'first-start' } });
    expect(created.status).toBe(201);
    expect((await call(entry, 'GET', '/v1/sites', { token: 'ebt_' + 'x'.repeat(32) })).status).toBe(401);
  });
});

describe('Deno entry on S3 with EDGEBOOT_S3_REDIRECT_FILES=1', () => {
  let entry: SpawnedEntry | undefined;
  let stopS3: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await entry?.stop();
    await stopS3?.();
  });

  it('answers a signed file GET with a 302 to a presigned URL that yields the bytes', async () => {
    const s3 = await startLocalS3();
    stopS3 = s3.dispose;
    entry = await spawnEntry({
      name: 'deno-redirect',
      command: DENO,
      args: (dataDir) => denoServe(dataDir, `--allow-net=${new URL(s3.config.endpoint).host}`),
      env: {
        DENO_NO_UPDATE_CHECK: '1',
        EDGEBOOT_S3_ENDPOINT: s3.config.endpoint,
        EDGEBOOT_S3_BUCKET: s3.config.bucket,
        EDGEBOOT_S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        EDGEBOOT_S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
        EDGEBOOT_S3_REDIRECT_FILES: '1',
      },
      listening: LISTENING,
    });
    const site = (await call(entry, 'POST', '/v1/sites', { json: { name: 'redirect' } })).body.id;
    const id = (await call(entry, 'POST', '/v1/images', { json: { name: 'redirected' } })).body.id;
    const bytes = 'bytes that S3 serves itself';
    expect((await call(entry, 'PUT', `/v1/images/${id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } })).status).toBe(200);
    const url = new URL((await call(entry, 'POST', `/v1/images/${id}/signed-url`, { json: { siteId: site } })).body.url);
    const res = await entry.fetch(url.pathname + url.search, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(location.startsWith(s3.config.endpoint)).toBe(true);
    expect(await (await fetch(location)).text()).toBe(bytes);
  });

  it('refuses to start with EDGEBOOT_S3_REDIRECT_FILES=1 and no S3 store', async () => {
    const started = spawnEntry({
      name: 'deno-redirect-no-s3',
      command: DENO,
      args: (dataDir) => denoServe(dataDir),
      env: { DENO_NO_UPDATE_CHECK: '1', EDGEBOOT_S3_REDIRECT_FILES: '1' },
      listening: LISTENING,
    });
    await expect(started).rejects.toThrow(/EDGEBOOT_S3_REDIRECT_FILES=1 needs an S3 store/);
  });
});
