import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { inProcessTarget } from '../support/in-process.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { webhooksContract } from './api/webhooks.contract.ts';

/**
 * The webhook routes' contract in three columns here; the fourth (workerd) is
 * test/workers/webhooks.test.ts. Kept apart from api/index.ts while that file is being edited by
 * others: folding `webhooksContract(target)` into apiContract makes these columns redundant.
 */
describe('webhooks contract — in-process (SQLite :memory:)', () => {
  const target = inProcessTarget();
  webhooksContract(() => target);
});

describe('webhooks contract — Node entry over HTTP', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({ name: 'node-webhooks', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  });
  afterAll(async () => {
    await entry?.stop();
  });
  webhooksContract(() => entry!);
});

describe('webhooks contract — Deno entry over HTTP (deno serve)', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({
      name: 'deno-webhooks',
      command: join(REPO_ROOT, 'node_modules/.bin/deno'),
      // npm run dev:deno's permissions with the temp folder: the receivers here are never reached.
      args: (dataDir) => ['serve', '--allow-env=EDGEBOOT_*', `--allow-read=cloud/migrations,${dataDir}`, `--allow-write=${dataDir}`, '--host', '127.0.0.1', '--port', '0', 'cloud/src/entry/deno.ts'],
      env: { DENO_NO_UPDATE_CHECK: '1' },
      listening: /listening on (http:\/\/\S+)/i,
    });
  });
  afterAll(async () => {
    await entry?.stop();
  });
  webhooksContract(() => entry!);
});
