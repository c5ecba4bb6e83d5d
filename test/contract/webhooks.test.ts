import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { inProcessTarget } from '../support/in-process.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { webhooksContract } from './api/webhooks.contract.ts';
import { authzMatrix } from './authz/matrix.ts';
import { webhookRows } from './authz/webhook-rows.ts';
import { badInputSuite } from './bad-input/suite.ts';
import { webhookEndpoints, webhookIds, webhookLists } from './bad-input/webhooks.ts';
import type { ApiTarget } from './target.ts';

/**
 * The webhook routes' contract in three columns here; the fourth (workerd) is
 * test/workers/webhooks.test.ts. Kept apart from api/index.ts while that file is being edited by
 * others: folding `webhooksContract(target)` into apiContract, `webhookRows` into authz.contract.ts's
 * ALL_ROWS and the bad-input lists into bad-input.contract.ts makes these columns redundant.
 */
export function webhookColumn(target: () => ApiTarget): void {
  webhooksContract(target);
  authzMatrix(target, webhookRows);
  badInputSuite(target, webhookEndpoints, webhookIds, webhookLists);
}

describe('webhooks contract — in-process (SQLite :memory:)', () => {
  const target = inProcessTarget();
  webhookColumn(() => target);
});

describe('webhooks contract — Node entry over HTTP', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({ name: 'node-webhooks', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  });
  afterAll(async () => {
    await entry?.stop();
  });
  webhookColumn(() => entry!);
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
  webhookColumn(() => entry!);
});
