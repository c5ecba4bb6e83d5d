import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { apiContract } from './api/index.ts';

describe('API contract — Deno entry over HTTP (deno serve, node:sqlite, folder)', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({
      name: 'deno-entry',
      command: join(REPO_ROOT, 'node_modules/.bin/deno'),
      // The permissions of `npm run dev:deno`, with the temp folder in place of ./data: if the entry
      // ever needs more, this column fails rather than the user's first start.
      args: (dataDir) => [
        'serve',
        '--allow-env=EDGEBOOT_*',
        `--allow-read=cloud/migrations,${dataDir}`,
        `--allow-write=${dataDir}`,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        'cloud/src/entry/deno.ts',
      ],
      env: { DENO_NO_UPDATE_CHECK: '1' },
      listening: /listening on (http:\/\/\S+)/i,
    });
  });
  afterAll(async () => {
    await entry?.stop();
  });
  apiContract(() => entry!);
});
