import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { get, startTestRelay, until, type RelayUnderTest } from './support/relay-harness.ts';
import { bootableMachine, corruptImage, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

let cloud: TestCloud;
let creds: Credentials;
let site: string;
const relays: RelayUnderTest[] = [];

beforeAll(async () => {
  cloud = await startTestCloud();
  site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
});
afterAll(async () => {
  for (const r of relays) await r.close();
  await cloud?.close();
});

async function relayWith(flags: Record<string, string> = {}, stateDir?: string, port?: number): Promise<RelayUnderTest> {
  const r = await startTestRelay(creds, { flags, stateDir, port });
  relays.push(r);
  return r;
}

/** Uploads an image, boots a machine with it through the relay, and returns the image URL the relay handed out. */
async function imageThroughRelay(relay: RelayUnderTest, bytes: Uint8Array): Promise<{ id: string; url: string; sha256: string }> {
  const img = await uploadImage(cloud, bytes);
  const { mac } = await bootableMachine(cloud, site, [img.id]);
  const script = (await get(relay.context.scriptUrl(mac, '127.0.0.1', 0))).body.toString();
  const url = new RegExp(`http://\\S+/files/${img.id}/\\S+`).exec(script)?.[0];
  if (!url) throw new Error(`no image URL in the script:\n${script}`);
  return { id: img.id, url, sha256: img.sha256 };
}

const upstreamFetches = (imageId: string) => cloud.requests.filter((r) => r.path.startsWith(`/v1/files/${imageId}?`));
const same = (a: Buffer, b: Uint8Array) => Buffer.compare(a, Buffer.from(b)) === 0;
const sourcesFile = (relay: RelayUnderTest) => join(relay.stateDir, 'cache/sources.json');
type Sources = Record<string, { path: string | null; sha256: string | null; size: number | null }>;
const savedSources = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, 'cache/sources.json'), 'utf8')) as Sources;

/** Stops a relay once its index is saved, and rewrites its state as a crash after that write would have left it. */
async function crashedState(relay: RelayUnderTest, damage: (stateDir: string) => void): Promise<{ stateDir: string; port: number }> {
  const { stateDir, port } = relay;
  await relay.cache.indexSaved();
  await relay.close();
  damage(stateDir);
  return { stateDir, port };
}

describe('image cache', () => {
  it('refuses bytes whose sha256 does not match the ETag, and caches nothing', async () => {
    const relay = await relayWith();
    const bytes = randomBytesOf(512 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    const bad = Buffer.from(bytes);
    bad[1000] = bad[1000]! ^ 0xff;
    await corruptImage(cloud, img.id, bad);
    const first = await get(img.url);
    expect(first.complete).toBe(false); // reset before the last byte: no client finishes a corrupt download
    expect(relay.cache.verifyFailures.get()).toBe(1);
    expect(relay.cache.has(img.sha256)).toBe(false);
    expect(readdirSync(join(relay.stateDir, 'cache/partial'))).toEqual([]);
    const second = await get(img.url);
    expect(second.complete).toBe(false);
    expect(upstreamFetches(img.id)).toHaveLength(2); // refused bytes were not served from the cache
  });

  it('fetches once upstream for 20 concurrent clients, who all get the verified bytes', async () => {
    const relay = await relayWith();
    const bytes = randomBytesOf(2 * 1024 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    cloud.slowFiles(5);
    try {
      const all = await Promise.all(Array.from({ length: 20 }, () => get(img.url)));
      for (const r of all) {
        expect(r.status).toBe(200);
        expect(same(r.body, bytes)).toBe(true);
      }
    } finally {
      cloud.slowFiles(0);
    }
    expect(upstreamFetches(img.id)).toHaveLength(1);
    expect(relay.cache.has(img.sha256)).toBe(true);
    const again = await get(img.url);
    expect(same(again.body, bytes)).toBe(true);
    expect(upstreamFetches(img.id)).toHaveLength(1);
    const metrics = (await get(`${relay.httpUrl}/metrics`)).body.toString();
    expect(metrics).toMatch(/^edgeboot_relay_cache_hits_total 1$/m);
    expect(metrics).toMatch(/^edgeboot_relay_cache_misses_total 20$/m);
  });

  it.each([
    ['disk', '0'],
    ['a memory copy', '64MiB'],
  ])('answers Range requests while filling and from the cache (hits served from %s), with 416 past the end', async (_name, memory) => {
    const relay = await relayWith({ 'cache-memory-bytes': memory });
    const bytes = randomBytesOf(1024 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    const during = await get(img.url, { headers: { range: 'bytes=1000-1999' } });
    expect(during.status).toBe(206);
    expect(during.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(same(during.body, bytes.subarray(1000, 2000))).toBe(true);
    const suffix = await get(img.url, { headers: { range: 'bytes=-100' } });
    expect(suffix.status).toBe(206);
    expect(same(suffix.body, bytes.subarray(bytes.length - 100))).toBe(true);
    const open = await get(img.url, { headers: { range: `bytes=${bytes.length - 10}-` } });
    expect(same(open.body, bytes.subarray(bytes.length - 10))).toBe(true);
    expect((await get(img.url, { headers: { range: `bytes=${bytes.length}-` } })).status).toBe(416);
    const stale = await get(img.url, { headers: { range: 'bytes=0-9', 'if-range': '"0000"' } });
    expect(stale.status).toBe(200);
    const head = await get(img.url, { method: 'HEAD' });
    expect(head.headers['content-length']).toBe(String(bytes.length));
    expect(head.headers.etag).toBe(`"${img.sha256}"`);
    const whole = await get(img.url);
    expect(same(whole.body, bytes)).toBe(true);
    expect(upstreamFetches(img.id)).toHaveLength(1);
    const metrics = (await get(`${relay.httpUrl}/metrics`)).body.toString();
    expect(metrics).toMatch(new RegExp(`^edgeboot_relay_cache_memory_bytes ${memory === '0' ? 0 : bytes.length}$`, 'm'));
  });

  it('evicts the least recently used objects to stay under its size bound', async () => {
    const relay = await relayWith({ 'cache-max-bytes': String(3 * 1024 * 1024) });
    const size = 1200 * 1024;
    const a = await imageThroughRelay(relay, randomBytesOf(size));
    const b = await imageThroughRelay(relay, randomBytesOf(size));
    await get(a.url);
    await get(b.url);
    await new Promise((r) => setTimeout(r, 5));
    await get(a.url); // a is now more recently used than b
    const c = await imageThroughRelay(relay, randomBytesOf(size));
    await get(c.url);
    expect(relay.cache.has(a.sha256)).toBe(true);
    expect(relay.cache.has(b.sha256)).toBe(false);
    expect(relay.cache.has(c.sha256)).toBe(true);
    expect(relay.cache.totalBytes).toBeLessThanOrEqual(3 * 1024 * 1024);
    const objects = readdirSync(join(relay.stateDir, 'cache/objects'));
    expect(objects.sort()).toEqual([a.sha256, c.sha256].sort());
    await get(b.url);
    expect(upstreamFetches(b.id)).toHaveLength(2);
    expect(upstreamFetches(a.id)).toHaveLength(1);
  });

  it('resumes a fill cut off mid-transfer with a Range request, after a relay restart too', async () => {
    let relay = await relayWith();
    const bytes = randomBytesOf(2 * 1024 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    cloud.cutNextFileAfter(600 * 1024);
    const cut = await get(img.url);
    expect(cut.complete).toBe(false);
    const part = join(relay.stateDir, 'cache/partial', `${img.id}.part`);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(600 * 1024);

    const { stateDir, port } = relay;
    await relay.close();
    relay = await relayWith({}, stateDir, port);
    const whole = await get(img.url);
    expect(whole.status).toBe(200);
    expect(same(whole.body, bytes)).toBe(true);
    const fetches = upstreamFetches(img.id);
    expect(fetches).toHaveLength(2);
    expect(fetches[1]!.range).toBe(`bytes=${kept}-`);
    expect(relay.cache.has(img.sha256)).toBe(true);
  });

  it('learns fresh signed paths from 200 scripts without writing sources.json synchronously, then saves the last one in one write', async () => {
    const relay = await relayWith();
    const img = await imageThroughRelay(relay, randomBytesOf(64 * 1024));
    await relay.cache.indexSaved();
    const signed = savedSources(relay.stateDir)[img.id]!.path!;
    const before = readFileSync(sourcesFile(relay), 'utf8');
    const writes = relay.cache.indexWrites;
    // What the script proxy does for each image URL of each script (http/file-urls.ts).
    for (let i = 0; i < 200; i++) relay.cache.setSource(img.id, `/v1/files/${img.id}?sig=script-${i}`);
    relay.cache.setSource(img.id, signed);
    expect(readFileSync(sourcesFile(relay), 'utf8')).toBe(before); // nothing written on the way
    await relay.cache.indexSaved();
    expect(relay.cache.indexWrites - writes).toBe(1);
    expect(savedSources(relay.stateDir)[img.id]!.path).toBe(signed);
  });

  it('keeps a cached object through a crash that lost its index link: the fill journal links it again, nothing refetched', async () => {
    const relay = await relayWith();
    const bytes = randomBytesOf(256 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    expect(same((await get(img.url)).body, bytes)).toBe(true);
    const { stateDir, port } = await crashedState(relay, (dir) => {
      // The index write with the link never landed; the journal the fill writes first did.
      const sources = savedSources(dir);
      sources[img.id] = { path: sources[img.id]!.path, sha256: null, size: null };
      writeFileSync(join(dir, 'cache/sources.json'), JSON.stringify(sources));
      writeFileSync(join(dir, 'cache/partial', `${img.id}.json`), JSON.stringify({ sha256: img.sha256, size: bytes.length }));
    });
    const fetches = upstreamFetches(img.id).length;
    const restarted = await relayWith({}, stateDir, port);
    const again = await get(img.url);
    expect(again.status).toBe(200);
    expect(same(again.body, bytes)).toBe(true);
    expect(upstreamFetches(img.id)).toHaveLength(fetches);
    expect(restarted.cache.hits.get()).toBe(1);
    await until('the replayed journal to be removed', () => readdirSync(join(stateDir, 'cache/partial')).length === 0);
    expect(savedSources(stateDir)[img.id]!.sha256).toBe(img.sha256);
  });

  it('links an object found on disk again without fetching its bytes when no journal kept the link', async () => {
    const relay = await relayWith();
    const bytes = randomBytesOf(256 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    await get(img.url);
    const { stateDir, port } = await crashedState(relay, (dir) => {
      const sources = savedSources(dir);
      sources[img.id] = { path: sources[img.id]!.path, sha256: null, size: null };
      writeFileSync(join(dir, 'cache/sources.json'), JSON.stringify(sources));
    });
    const fetches = upstreamFetches(img.id).length;
    const restarted = await relayWith({}, stateDir, port);
    const again = await get(img.url);
    expect(same(again.body, bytes)).toBe(true);
    expect(upstreamFetches(img.id)).toHaveLength(fetches + 1); // one request to learn the ETag
    expect(restarted.cache.bytesFetched.get()).toBe(0); // and none of its bytes kept or refetched into the cache
    expect(readdirSync(join(stateDir, 'cache/objects'))).toEqual([img.sha256]);
  });

  it('shares one upstream fetch between a prefetch and 10 clients asking at once', async () => {
    const relay = await relayWith();
    const bytes = randomBytesOf(1024 * 1024);
    const img = await imageThroughRelay(relay, bytes);
    await relay.cache.indexSaved();
    const signed = savedSources(relay.stateDir)[img.id]!.path!;
    cloud.slowFiles(5);
    try {
      const [, ...all] = await Promise.all([relay.cache.prefetch(img.id, signed), ...Array.from({ length: 10 }, () => get(img.url))]);
      for (const r of all) expect(same(r.body, bytes)).toBe(true);
    } finally {
      cloud.slowFiles(0);
    }
    expect(upstreamFetches(img.id)).toHaveLength(1);
    expect(relay.cache.localObject(img.id)?.size).toBe(bytes.length);
  });
});
