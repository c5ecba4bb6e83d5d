/**
 * The two control planes the fleet benchmark drives, each with a way to bulk-insert seed rows and a
 * trivial handler on the same runtime for the boot-script ratio:
 *
 * - workerd: the Worker as `wrangler deploy` bundles it, with local D1, R2 and every Durable Object
 *   binding wrangler.toml declares (so a per-site sync object, once it exists, runs as deployed),
 *   reached through Miniflare's direct socket (wrangler dev's proxy would be what is measured).
 * - node: the Node entry (cloud/src/entry/node.ts) as a child process, SQLite file in a fresh folder.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'smol-toml';
import { REPO_ROOT, spawnEntry } from '../../support/spawned-entry.ts';
import { startEdgebootWorker, startTrivialWorker, wranglerDurableObjects, type RunningWorker } from '../../support/workerd.ts';

export type RuntimeName = 'workerd' | 'node';

export interface FleetTarget {
  runtime: RuntimeName;
  url: string;
  adminToken: string;
  /** Runs literal SQL statements (no bound parameters) in one transaction: seeding only. */
  exec(statements: string[]): Promise<void>;
  /** Counters read from outside the app's /metrics (see ExtraCounts). */
  extra(): Promise<ExtraCounts>;
  dispose(): Promise<void>;
}

export interface ExtraCounts {
  /**
   * workerd: database round trips made inside the SiteSync Durable Objects, read with each shard's own
   * `stats()` over Miniflare's binding proxy (null: no such binding, e.g. before the per-site sync).
   */
  syncRoundTrips: number | null;
  /** node: every SQL statement the entry process executed (support/fleet-sqlite-count.ts). */
  sqliteStatements: number | null;
}

interface WranglerToml {
  compatibility_date: string;
  durable_objects?: { bindings?: { name: string; class_name: string }[] };
  migrations?: { new_sqlite_classes?: string[]; new_classes?: string[] }[];
  vars?: Record<string, string>;
}

function wranglerToml(): WranglerToml {
  return parse(readFileSync(join(REPO_ROOT, 'wrangler.toml'), 'utf8')) as unknown as WranglerToml;
}

/** The shard count of entry/workers-sync.ts (objects named `sync:<n>`), read from its source: it imports cloudflare:workers. */
function syncShards(): number | null {
  try {
    const m = /export const SYNC_SHARDS = (\d+)/.exec(readFileSync(join(REPO_ROOT, 'cloud/src/entry/workers-sync.ts'), 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function startWorkerd(adminToken: string): Promise<FleetTarget> {
  // The Worker as the e2e tests run it (every Durable Object wrangler.toml binds), with its vars.
  const { url, mf, db, dispose } = await startEdgebootWorker(adminToken, wranglerToml().vars);
  const shards = syncShards();
  const syncNs = shards !== null && 'SITE_SYNC' in wranglerDurableObjects() ? await mf.getDurableObjectNamespace('SITE_SYNC') : null;
  return {
    runtime: 'workerd',
    url,
    adminToken,
    // D1's batch is one transaction.
    exec: async (statements) => {
      await db.batch(statements.map((s) => db.prepare(s)));
    },
    extra: async () => {
      if (!syncNs || shards === null) return { syncRoundTrips: null, sqliteStatements: null };
      let total = 0;
      for (let n = 0; n < shards; n++) {
        const stub = syncNs.get(syncNs.idFromName(`sync:${n}`)) as unknown as { stats(): Promise<{ roundTrips: { all: number; first: number; batch: number } | null }> };
        const rt = (await stub.stats()).roundTrips;
        if (rt) total += rt.all + rt.first + rt.batch;
      }
      return { syncRoundTrips: total, sqliteStatements: null };
    },
    dispose,
  };
}

export async function startNode(): Promise<FleetTarget> {
  const entry = await spawnEntry({
    name: 'fleet-node',
    command: process.execPath,
    args: () => ['--import', join(REPO_ROOT, 'test/bench/support/fleet-sqlite-count.ts'), 'cloud/src/entry/node.ts'],
    env: { PORT: '0' },
    listening: /listening on (http:\/\/\S+)/i,
  });
  let counter: string | undefined;
  for (let i = 0; i < 40 && !(counter = /fleet-bench sqlite counter on (http:\/\/\S+)/.exec(entry.output())?.[1]); i++) await sleep(50);
  if (!counter) throw new Error(`the SQLite counter did not start:\n${entry.output()}`);
  // A second connection to the entry's SQLite file (WAL): the entry keeps serving while rows go in.
  const db = new DatabaseSync(join(entry.dataDir, 'edgeboot.db'));
  db.exec('PRAGMA busy_timeout = 10000');
  return {
    runtime: 'node',
    url: entry.baseUrl,
    adminToken: entry.adminToken,
    exec: async (statements) => {
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const s of statements) db.exec(s);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    },
    extra: async () => {
      const res = await fetch(counter);
      const c = (await res.json()) as { statements: number };
      return { syncRoundTrips: null, sqliteStatements: c.statements };
    },
    dispose: async () => {
      db.close();
      await entry.stop();
    },
  };
}

/** test/bench/trivial/fetch-handler.ts on the same runtime and HTTP stack as the app. */
export async function startTrivial(runtime: RuntimeName): Promise<RunningWorker> {
  if (runtime === 'workerd') {
    const src = readFileSync(join(REPO_ROOT, 'test/bench/trivial/fetch-handler.ts'), 'utf8').replace('fetch(): Response {', 'fetch() {');
    return startTrivialWorker(src);
  }
  const e = await spawnEntry({
    name: 'fleet-trivial',
    command: process.execPath,
    args: () => ['test/bench/trivial/node-serve.ts'],
    env: { PORT: '0' },
    listening: /listening on (http:\/\/\S+)/i,
  });
  return { url: e.baseUrl, dispose: () => e.stop() };
}
