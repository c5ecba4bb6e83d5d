import { abortAllDurableObjects } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../../cloud/src/entry/workers-sync.ts';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import { call, randomMac, type ApiTarget, type CallResult } from '../contract/target.ts';

/**
 * Relay sync on Workers (the worker of wrangler.toml in workerd, local D1 and Durable Objects):
 * what only this runtime has. Waits live in the SiteSync object of the site's shard, which must
 * cost D1 nothing while idle, and whose loss mid-wait must not lose the relay. The protocol itself
 * runs in every column (contract/api/sync.contract.ts).
 */
const target: ApiTarget = {
  name: 'workerd',
  adminToken: env.EDGEBOOT_ADMIN_TOKEN,
  fetch: (path, init) => exports.default.fetch(new Request(new URL(path, 'http://edgeboot.test'), init)),
};

const shardStub = (siteId: string) => env.SITE_SYNC!.get(env.SITE_SYNC!.idFromName(`sync:${shardOf(siteId)}`));
const sync = (token: string, etag?: string, wait?: number) =>
  call(target, 'GET', `/v1/relay/sync${wait === undefined ? '' : `?wait=${wait}`}`, { token, headers: etag ? { 'if-none-match': etag } : {} });

async function siteWithRelay() {
  const site = await createSite(target);
  const relay = await enrollRelay(target, site);
  for (let i = 0; i < 3; i++) expect((await call(target, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site } })).status).toBe(201);
  const first = await sync(relay.token);
  expect(first.status, first.text).toBe(200);
  return { site, relay, etag: first.headers.get('etag')! };
}

const roundTrips = async (siteId: string) => {
  const s = await shardStub(siteId).stats();
  return s.roundTrips!.all + s.roundTrips!.first + s.roundTrips!.batch;
};

describe('relay sync in Durable Objects', () => {
  it("costs its site's object no D1 round trip for any number of idle waits once the snapshot is cached", async () => {
    const s = await siteWithRelay();
    // Five relays of the site, four waits each (one relay alone would meet the 429 of a tight loop).
    const relays = [s.relay, ...(await Promise.all(Array.from({ length: 4 }, () => enrollRelay(target, s.site))))];
    const before = await roundTrips(s.site);
    const answers = await Promise.all(relays.flatMap((r) => Array.from({ length: 4 }, () => sync(r.token, s.etag, 2))));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(304));
    expect((await roundTrips(s.site)) - before).toBe(0);
    // A change costs one computation (five queries) for all of them.
    const waits = relays.flatMap((r) => [sync(r.token, s.etag, 25), sync(r.token, s.etag, 25)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await call(target, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: s.site } })).status).toBe(201);
    expect((await Promise.all(waits)).map((a) => a.status)).toEqual(Array(10).fill(200));
    expect((await roundTrips(s.site)) - before).toBe(5);
  });

  it('answers a waiting relay from D1 when the objects are torn down mid-wait, and the next wait is woken by a fresh object', async () => {
    const s = await siteWithRelay();
    const waiting = sync(s.relay.token, s.etag, 25);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await shardStub(s.site).stats()).waiting).toBeGreaterThanOrEqual(1);
    await abortAllDurableObjects();
    // The relay's request ends now with the site's current state instead of hanging for its 25 s.
    const stillWaiting = new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 15_000));
    const r = await Promise.race([waiting, stillWaiting]);
    expect(r).not.toBe('still waiting');
    expect((r as CallResult).status).toBe(304);
    expect((r as CallResult).headers.get('etag')).toBe(s.etag);
    // It polls again: a fresh object holds the wait and a change wakes it.
    const again = sync(s.relay.token, s.etag, 25);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const mac = randomMac();
    expect((await call(target, 'POST', '/v1/machines', { json: { mac, siteId: s.site } })).status).toBe(201);
    const woken = await again;
    expect(woken.status, woken.text).toBe(200);
    expect([...(woken.body.machines ?? woken.body.upsert)].some((m: { mac: string }) => m.mac === mac)).toBe(true);
  });

  it("tells 'all' to every shard: a profile edit reaches sites in different shards", async () => {
    const profile = (await call(target, 'POST', '/v1/profiles', { json: { name: `do-p-${crypto.randomUUID()}`, spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } } })).body;
    const sites: Awaited<ReturnType<typeof siteWithRelay>>[] = [];
    // Sites until two land in different shards (a few tries at most: 16 shards).
    while (sites.length < 2 || new Set(sites.map((x) => shardOf(x.site))).size < 2) sites.push(await siteWithRelay());
    const picked = [sites[0]!, sites.find((x) => shardOf(x.site) !== shardOf(sites[0]!.site))!];
    const tags: string[] = [];
    for (const p of picked) {
      expect((await call(target, 'PATCH', `/v1/sites/${p.site}`, { json: { defaultProfileId: profile.id } })).status).toBe(200);
      tags.push((await sync(p.relay.token)).headers.get('etag')!);
    }
    const waits = picked.map((p, i) => sync(p.relay.token, tags[i], 25));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await call(target, 'PATCH', `/v1/profiles/${profile.id}`, { json: { spec: { kind: 'local' } } })).status).toBe(200);
    const answers = await Promise.all(waits);
    expect(answers.map((a) => [a.status, a.body.unknownMachines])).toEqual([
      [200, { netboot: false }],
      [200, { netboot: false }],
    ]);
  });
});
