import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryObjectStore } from '../../cloud/src/adapters/memory-object-store.ts';
import { migrateSqlite, openSqlite } from '../../cloud/src/adapters/node/sqlite.ts';
import { createApp } from '../../cloud/src/app.ts';
import { inProcessSiteSync } from '../../cloud/src/sync/in-process.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient, type CloudClient } from '../../relay/src/sync/cloud-client.ts';
import { SnapshotStore } from '../../relay/src/sync/snapshot-store.ts';
import { SyncClient } from '../../relay/src/sync/sync-client.ts';
import { RelaySnapshot } from '../../shared/schemas/relay-sync.ts';
import { snapshotVersion } from '../../shared/sync/snapshot-version.ts';
import { enrollRelay } from '../contract/fixtures.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';
import { tempDir, until } from './support/relay-harness.ts';
import type { SiteSyncHub } from '../../cloud/src/sync/hub.ts';

/**
 * The relay's SyncClient against the real control plane with the per-site sync hub, built the way
 * the Node entry builds it (cloud/src/entry/node.ts: createApp with inProcessSiteSync), except for
 * pages of 10 machines instead of 5,000 so that paging shows with a few dozen machines.
 */

const PAGE = 10;
const quiet = createLogger({ write: () => undefined });
let cloud: ApiTarget & { url: string };
let server: ServerType;
let hub: SiteSyncHub;
/** Paths of the requests the cloud received, in order. */
const seen: string[] = [];

beforeAll(async () => {
  const db = openSqlite(':memory:');
  migrateSqlite(db.raw);
  const adminToken = 'ebt_relayhubtestadmintoken00000000000';
  hub = inProcessSiteSync({ db, pageMachines: PAGE });
  const app = createApp({ db, objects: memoryObjectStore(), clock: { now: () => Date.now() }, bootstrapAdminToken: adminToken, siteChanges: hub });
  const record = (req: Request) => {
    seen.push(new URL(req.url).pathname);
    return app.fetch(req);
  };
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: record, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve(info.port));
  });
  const url = `http://127.0.0.1:${port}`;
  cloud = { name: 'node-with-hub', adminToken, url, fetch: (path, init) => fetch(`${url}${path}`, init) };
});
afterAll(async () => {
  const s = server as unknown as import('node:http').Server | undefined;
  s?.closeAllConnections();
  await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
});

async function relayOf(siteId: string): Promise<{ client: CloudClient; store: SnapshotStore; sync: SyncClient; [Symbol.asyncDispose](): Promise<void> }> {
  const { token } = await enrollRelay(cloud, siteId);
  const client = createCloudClient({ baseUrl: cloud.url, token });
  const store = new SnapshotStore(join(tempDir('hub-sync'), 'snapshot.json'), quiet);
  const sync = new SyncClient({ client, store, log: quiet });
  return { client, store, sync, [Symbol.asyncDispose]: () => client.close() };
}

async function siteWith(machines: number): Promise<string> {
  const site = (await call(cloud, 'POST', '/v1/sites', { json: { name: unique('hub-site') } })).body.id as string;
  for (let i = 0; i < machines; i++) expect((await call(cloud, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site } })).status).toBe(201);
  return site;
}

/** What the cloud says now, fetched in full by a fresh relay of the site: the answer the relay's snapshot must equal. */
async function fullFrom(siteId: string): Promise<RelaySnapshot> {
  await using fresh = await relayOf(siteId);
  expect(await fresh.sync.syncOnce(null)).toBe(true);
  return fresh.store.snapshot!;
}

describe('SyncClient against the cloud with its sync hub', () => {
  it('fetches a 25-machine site in 3 pages, then takes a change as a delta that checks', async () => {
    const site = await siteWith(25);
    await using relay = await relayOf(site);
    const before = seen.length;
    expect(await relay.sync.syncOnce(null)).toBe(true);
    expect(seen.slice(before)).toEqual(['/v1/relay/sync', '/v1/relay/sync/page', '/v1/relay/sync/page']);
    expect(relay.store.snapshot!.machines).toHaveLength(25);
    expect(snapshotVersion(relay.store.snapshot!)).toBe(relay.store.snapshot!.version);

    const mac = randomMac();
    const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('p'), spec: { kind: 'ipxe', script: '#!ipxe\nshell\n' } } });
    expect((await call(cloud, 'POST', '/v1/assignments', { json: { profileId: profile.body.id, selector: { mac } } })).status).toBe(201);
    expect(await relay.sync.syncOnce(0)).toBe(true);
    expect(relay.sync.deltas).toBe(1);
    expect(relay.sync.fullRefetches).toBe(0);
    expect(relay.store.netbootFor(mac, 'bios')).toBe(true);
    expect(relay.store.snapshot).toEqual(await fullFrom(site));
  });

  it('wakes from its long-poll with a delta when its site changes', async () => {
    const site = await siteWith(3);
    await using relay = await relayOf(site);
    expect(await relay.sync.syncOnce(null)).toBe(true);
    const held = relay.store.snapshot!.version;
    const waitingBefore = (await hub.stats()).waiting;
    const waiting = relay.sync.syncOnce(25);
    // The change comes while the hub holds the long-poll, and wakes it (well before the 25 s).
    await until('the long-poll held by the hub', async () => (await hub.stats()).waiting > waitingBefore);
    const mac = randomMac();
    expect((await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site } })).status).toBe(201);
    expect(await waiting).toBe(true);
    expect(relay.store.snapshot!.version).not.toBe(held);
    expect(relay.store.snapshot!.machines.some((m) => m.mac === mac)).toBe(true);
    expect(relay.sync.deltas).toBe(1);
  });

  it('is told to come back after Retry-After when it syncs in a tight loop, and reads the wait', async () => {
    const site = await siteWith(1);
    await using relay = await relayOf(site);
    const outcomes = [];
    for (let i = 0; i < 21; i++) outcomes.push(await relay.sync.exchange(null));
    expect(outcomes.slice(0, 20).every((o) => o.ok)).toBe(true);
    expect(outcomes[20]!.ok).toBe(false);
    expect(outcomes[20]!.retryAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(outcomes[20]!.retryAfterMs).toBeLessThanOrEqual(10_000);
  });
});
