import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCredentials } from '../../relay/src/sync/credentials.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient } from '../../relay/src/sync/cloud-client.ts';
import { SnapshotStore } from '../../relay/src/sync/snapshot-store.ts';
import { SyncClient } from '../../relay/src/sync/sync-client.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { RelaySnapshot } from '../../shared/schemas/relay-sync.ts';
import { SYNC_PAGE_MACHINES } from '../../shared/sync/paging.ts';
import { snapshotVersion } from '../../shared/sync/snapshot-version.ts';
import { call, randomMac } from '../contract/target.ts';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { get, startTestRelay, tempDir, until } from './support/relay-harness.ts';
import { createSite, enrolledCredentials, enrollmentCode, startTestCloud, type TestCloud } from './support/test-cloud.ts';

const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const MAIN = join(REPO_ROOT, 'relay/src/main.ts');
const quiet = createLogger({ write: () => undefined });

/** Async on purpose: the cloud answers from this process, so a blocking spawn would deadlock it. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [MAIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
  });
}

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud();
});
afterAll(async () => {
  await cloud?.close();
});

describe('edgeboot-relay enroll', () => {
  it('stores the token, relay id and boot key with mode 0600 in a 0700 state dir, with a real code', async () => {
    const site = await createSite(cloud);
    const code = await enrollmentCode(cloud, site);
    const dir = join(tempDir('enroll'), 'state');
    const r = await cli(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', dir, '--name', 'lab-relay']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const creds = loadCredentials(dir)!;
    expect(creds.siteId).toBe(site);
    expect(creds.relayId).toMatch(/^rly_/);
    expect(creds.token.length).toBeGreaterThan(20);
    expect(creds.bootKey.length).toBeGreaterThan(20);
    expect(statSync(join(dir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // The stored token is a working relay credential.
    const sync = await call(cloud, 'GET', '/v1/relay/sync', { token: creds.token });
    expect(sync.status).toBe(200);
  });

  it('refuses a used code with the cloud\'s reason and exit status 78 (EX_CONFIG: not worth retrying), writing nothing', async () => {
    const site = await createSite(cloud);
    const code = await enrollmentCode(cloud, site);
    const first = join(tempDir('enroll'), 'a');
    expect((await cli(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', first])).status).toBe(0);
    const second = join(tempDir('enroll'), 'b');
    const r = await cli(['enroll', '--cloud', cloud.url, '--code', code, '--state-dir', second]);
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/enrollment refused: .*410.*enrollment code already used/);
    expect(r.stderr).toMatch(/cannot be used again: create a new one/);
    expect(loadCredentials(second)).toBeNull();
  });
});

describe('snapshot sync', () => {
  it('gets the snapshot, then 304 while nothing changes', async () => {
    const site = await createSite(cloud);
    const creds = await enrolledCredentials(cloud, site);
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const store = new SnapshotStore(join(tempDir('snap'), 'snapshot.json'), quiet);
    const sync = new SyncClient({ client, store, log: quiet });
    try {
      expect(store.netbootFor(randomMac(), 'bios')).toBe(false); // no snapshot yet: fail closed
      expect(await sync.syncOnce(null)).toBe(true);
      expect(store.snapshot?.siteId).toBe(site);
      const before = cloud.requests.length;
      expect(await sync.syncOnce(0)).toBe(true);
      expect(sync.syncs).toBe(1); // the second exchange changed nothing…
      const last = cloud.requests.slice(before).find((r) => r.path.startsWith('/v1/relay/sync'));
      expect(last?.path).toBe('/v1/relay/sync?wait=0'); // …because it asked with its ETag and got 304
    } finally {
      await client.close();
    }
  });

  it('picks up a change within 2 s through the long-poll, and answers netbootFor from it', async () => {
    const site = await createSite(cloud);
    const creds = await enrolledCredentials(cloud, site);
    const relay = await startTestRelay(creds);
    try {
      await until('first snapshot', () => relay.context.snapshot.snapshot);
      const mac = randomMac();
      expect(relay.context.snapshot.netbootFor(mac, 'bios')).toBe(false);
      // Let the relay settle into its long-poll, then change the site.
      await new Promise((r) => setTimeout(r, 300));
      const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: `p-${Date.now()}`, spec: { kind: 'ipxe', script: '#!ipxe\nshell\n' } } });
      await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site, state: 'ready' } });
      await until('the machine in the snapshot', () => relay.context.snapshot.snapshot?.machines.some((m) => m.mac === mac), 5_000);
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const a = await call(cloud, 'POST', '/v1/assignments', { json: { profileId: profile.body.id, selector: { siteId: site, arch: 'uefi-arm64' } } });
      expect(a.status).toBe(201);
      await until('the change', () => relay.context.snapshot.netbootFor(mac, 'uefi-arm64'), 5_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(relay.context.snapshot.netbootFor(mac, 'bios')).toBe(false); // only the listed arch
      expect(relay.context.snapshot.netbootFor(mac.toUpperCase().replaceAll(':', '-'), 'uefi-arm64')).toBe(true);
      const health = JSON.parse((await get(`${relay.httpUrl}/healthz`)).body.toString());
      expect(health).toMatchObject({ ok: true, cloudReachable: true, queueDepth: expect.any(Number) });
      expect(health.syncAgeSeconds).toBeLessThan(30);
    } finally {
      await relay.close();
    }
  });

  it('keeps answering from the saved snapshot after a restart while the cloud is down', async () => {
    const site = await createSite(cloud);
    const creds = await enrolledCredentials(cloud, site);
    const mac = randomMac();
    const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: `p-${Date.now()}`, spec: { kind: 'ipxe', script: '#!ipxe\nshell\n' } } });
    await call(cloud, 'POST', '/v1/machines', { json: { mac, siteId: site } });
    await call(cloud, 'POST', '/v1/assignments', { json: { profileId: profile.body.id, selector: { mac } } });
    const first = await startTestRelay(creds);
    await until('snapshot with the machine', () => first.context.snapshot.netbootFor(mac, 'bios'));
    await first.close();
    await cloud.stop();
    try {
      const again = await startTestRelay(creds, { stateDir: first.stateDir });
      try {
        expect(again.context.snapshot.netbootFor(mac, 'bios')).toBe(true);
        expect(again.context.snapshot.netbootFor(randomMac(), 'bios')).toBe(false);
        const saved = JSON.parse(readFileSync(join(first.stateDir, 'snapshot.json'), 'utf8'));
        expect(saved.snapshot.siteId).toBe(site);
        await until('the sync loop to notice the outage', () => again.sync.failures > 0);
        const health = JSON.parse((await get(`${again.httpUrl}/healthz`)).body.toString());
        expect(health).toMatchObject({ ok: true, cloudReachable: false });
      } finally {
        await again.close();
      }
    } finally {
      await cloud.start();
    }
  });
});

describe('snapshot sync at fleet scale (issue 16), against the real cloud', () => {
  it('fetches a 12,000-machine site as 3 pages and installs it whole, its version checked', async () => {
    const site = await createSite(cloud);
    const creds = await enrolledCredentials(cloud, site);
    const now = Date.now();
    const prefix = randomMac().slice(0, 8);
    const rows = Array.from({ length: 12_000 }, (_, i) => {
      const hex = i.toString(16).padStart(6, '0');
      return sql('INSERT INTO machines (id, mac, site_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', `mch_page${site}${i}`, `${prefix}:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`, site, 'ready', now, now);
    });
    await cloud.deps.db.batch(rows);
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const store = new SnapshotStore(join(tempDir('snap'), 'snapshot.json'), quiet);
    const sync = new SyncClient({ client, store, log: quiet });
    try {
      const before = cloud.requests.length;
      expect(await sync.syncOnce(null)).toBe(true);
      const paths = cloud.requests.slice(before).map((r) => r.path.replace(/\?.*/, ''));
      expect(paths).toEqual(['/v1/relay/sync', '/v1/relay/sync/page', '/v1/relay/sync/page']);
      const s = store.snapshot!;
      expect(s.machines).toHaveLength(12_000);
      expect(SYNC_PAGE_MACHINES).toBe(5_000);
      expect('next' in s).toBe(false);
      expect(snapshotVersion(s)).toBe(s.version);
      // The last machine (11,999 = 0x2edf) came with the third page.
      expect(s.machines[11_999]).toMatchObject({ mac: `${prefix}:00:2e:df`, machineId: `mch_page${site}11999` });
      // Then 304 with its ETag: the version the relay assembled is the one the cloud holds.
      expect(await sync.syncOnce(0)).toBe(true);
      expect(sync.syncs).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('gets its own site\'s full snapshot when it presents another site\'s version', async () => {
    const [siteA, siteB] = [await createSite(cloud), await createSite(cloud)];
    const credsA = await enrolledCredentials(cloud, siteA);
    const credsB = await enrolledCredentials(cloud, siteB);
    const path = join(tempDir('snap'), 'snapshot.json');
    const clientA = createCloudClient({ baseUrl: cloud.url, token: credsA.token });
    const clientB = createCloudClient({ baseUrl: cloud.url, token: credsB.token });
    try {
      expect(await new SyncClient({ client: clientA, store: new SnapshotStore(path, quiet), log: quiet }).syncOnce(null)).toBe(true);
      // The relay of site B starts from site A's saved snapshot (a state dir copied between relays).
      const store = new SnapshotStore(path, quiet);
      expect(store.snapshot?.siteId).toBe(siteA);
      const held = store.etag;
      const before = cloud.requests.length;
      expect(await new SyncClient({ client: clientB, store, log: quiet }).syncOnce(0)).toBe(true);
      expect(store.snapshot?.siteId).toBe(siteB);
      expect(RelaySnapshot.parse(store.snapshot).version).not.toBe(held);
      expect(cloud.requests.slice(before).map((r) => r.path)).toEqual(['/v1/relay/sync?wait=0']);
    } finally {
      await clientA.close();
      await clientB.close();
    }
  });
});
