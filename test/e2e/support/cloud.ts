/**
 * The control plane the end-to-end tests boot machines from, on two runtimes: the Node entry (SQLite
 * and a folder, the embedded default) as a child process, and the worker in workerd with local D1 and
 * R2 (Miniflare, wrangler's local mode, reached directly). Both listen on loopback in the host
 * namespace; relays reach them through lan.ts's unix-socket bridge.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiTarget } from '../../contract/target.ts';
import { freePort } from '../../relay/support/relay-harness.ts';
import { spawnEntry, type SpawnedEntry } from '../../support/spawned-entry.ts';
import { startEdgebootWorker } from '../../support/workerd.ts';

export interface E2eCloud extends ApiTarget {
  runtime: 'node' | 'workerd';
  url: string;
  /** The Node entry's data folder (SQLite and objects/); absent for workerd. */
  dataDir?: string;
  /** Stops the control plane (a WAN cut as far as relays can tell); its data is kept for start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startNodeCloud(): Promise<E2eCloud> {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeboot-e2e-node-'));
  const port = String(await freePort());
  let entry: SpawnedEntry | null = null;
  const launch = async () => {
    entry = await spawnEntry({ name: 'e2e-node', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: port }, listening: /listening on (http:\/\/\S+)/i, dataDir });
  };
  await launch();
  const first = entry!;
  return {
    runtime: 'node',
    name: 'node-entry',
    url: first.baseUrl,
    dataDir,
    adminToken: first.adminToken,
    fetch: (path, init) => first.fetch(path, init),
    stop: async () => {
      await entry?.stop();
      entry = null;
    },
    start: launch,
    close: async () => {
      await entry?.stop();
    },
  };
}

const WORKERD_ADMIN = 'ebt_e2eworkerdadmintoken0000000000000';

/** workerd keeps D1 and R2 in memory: stop() here cuts nothing; a WAN cut is done at the bridge. */
export async function startWorkerdCloud(): Promise<E2eCloud> {
  const w = await startEdgebootWorker(WORKERD_ADMIN);
  return {
    runtime: 'workerd',
    name: 'workerd',
    url: w.url,
    adminToken: WORKERD_ADMIN,
    fetch: (path, init) => fetch(`${w.url}${path}`, { ...init, duplex: 'half' } as RequestInit),
    stop: async () => {
      throw new Error('the workerd column cannot stop and keep its data; cut the WAN at the bridge instead');
    },
    start: async () => {},
    close: () => w.dispose(),
  };
}
