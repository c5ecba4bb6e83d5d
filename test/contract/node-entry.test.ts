import { afterAll, beforeAll, describe } from 'vitest';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { apiContract } from './api/index.ts';

describe('API contract — Node entry over HTTP (SQLite file, folder)', () => {
  let entry: SpawnedEntry | undefined;
  beforeAll(async () => {
    entry = await spawnEntry({
      name: 'node-entry',
      // Vitest runs on the Node 24 of the devDependency; the entry needs it (type stripping, node:sqlite).
      command: process.execPath,
      args: () => ['cloud/src/entry/node.ts'],
      env: { PORT: '0' },
      listening: /listening on (http:\/\/\S+)/i,
    });
  });
  afterAll(async () => {
    await entry?.stop();
  });
  apiContract(() => entry!);
});
