import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { createLogger } from '../../relay/src/log.ts';
import { createCloudClient } from '../../relay/src/sync/cloud-client.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { EventQueue } from '../../relay/src/sync/event-queue.ts';
import { randomMac } from '../contract/target.ts';
import { startTestRelay, tempDir, until } from './support/relay-harness.ts';
import { createSite, enrolledCredentials, startTestCloud, type TestCloud } from './support/test-cloud.ts';

const quiet = createLogger({ write: () => undefined });
let cloud: TestCloud;
let creds: Credentials;

beforeAll(async () => {
  cloud = await startTestCloud();
  creds = await enrolledCredentials(cloud, await createSite(cloud));
});
afterAll(async () => {
  await cloud?.close();
});

/** The `n` detail of every stored event of this relay, in order. */
async function storedSeq(relayId: string, mac: string): Promise<number[]> {
  const rows = await cloud.deps.db.all<{ detail: string }>(sql('SELECT detail FROM boot_events WHERE relay_id = ? AND mac = ?', relayId, mac));
  return rows.map((r) => (JSON.parse(r.detail) as { n: number }).n).sort((a, b) => a - b);
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

describe('event queue', () => {
  it('delivers every event exactly once across a cloud outage and a relay restart', async () => {
    const mac = randomMac();
    const relay = await startTestRelay(creds);
    for (const n of range(0, 50)) relay.context.events.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    await until('the first events shipped', async () => (await storedSeq(creds.relayId, mac)).length === 50);

    await cloud.stop();
    for (const n of range(50, 120)) relay.context.events.emit({ mac, stage: 'tftp-start', detail: { n } });
    await until('the queue to try and fail', () => relay.queue.depth === 70 && relay.sync.failures > 0);
    await relay.close(); // the relay goes down too, with 70 events unshipped

    const again = await startTestRelay(creds, { stateDir: relay.stateDir });
    try {
      expect(again.queue.depth).toBe(70);
      for (const n of range(120, 130)) again.context.events.emit({ mac, stage: 'tftp-done', detail: { n } });
      await cloud.start();
      await until('everything shipped', () => again.queue.depth === 0, 15_000);
      expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 130));
    } finally {
      await again.close();
    }
  });

  /** Ten offers of one new MAC shipped and acknowledged by a queue that is then closed. */
  async function tenShipped() {
    const mac = randomMac();
    const dir = tempDir('events');
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir, client, log: quiet, lingerMs: 0 });
    for (const n of range(0, 10)) q.emit({ mac, stage: 'dhcp-offer', detail: { n } });
    q.start();
    await until('shipped', () => q.depth === 0);
    await q.stop();
    q.close();
    return { mac, dir, client };
  }

  it('re-sends a batch whose acknowledgement was lost, and the cloud keeps one copy', async () => {
    const { mac, dir, client } = await tenShipped();
    // A crash between the cloud's 2xx and the ack write: the ack still points at the start.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'ack.json'), JSON.stringify({ segment: 1, offset: 0 }));
    const replay = new EventQueue({ dir, client, log: quiet, lingerMs: 0 });
    expect(replay.depth).toBe(10);
    const posts = cloud.requests.length;
    replay.start();
    await until('replayed', () => replay.depth === 0);
    await replay.stop();
    replay.close();
    await client.close();
    expect(cloud.requests.slice(posts).filter((r) => r.path === '/v1/relay/events')).toHaveLength(1);
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 10));
  });

  /** Emits `count` discover events of a new MAC (detail from `detail(n)`), ships them all, and returns the MAC and the POSTs. */
  async function shipAll(count: number, detail: (n: number) => Record<string, string | number>) {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet });
    for (const n of range(0, count)) q.emit({ mac, stage: 'dhcp-discover', detail: detail(n) });
    const before = cloud.requests.length;
    q.start();
    await until('shipped', () => q.depth === 0, 20_000);
    await q.stop();
    q.close();
    await client.close();
    return { mac, posts: cloud.requests.slice(before).filter((r) => r.path === '/v1/relay/events') };
  }

  it('ships in batches of at most 500 events and 60 KiB', async () => {
    const big = 'x'.repeat(200);
    const { mac, posts } = await shipAll(1200, (n) => ({ n, ...(n >= 600 ? { big } : {}) }));
    expect(posts.length).toBeGreaterThanOrEqual(3);
    for (const p of posts) expect(p.bodyBytes).toBeLessThanOrEqual(60 * 1024);
    expect(Math.max(...posts.map((p) => p.bodyBytes))).toBeGreaterThan(50 * 1024); // the byte bound did the splitting
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 1200));
  });

  it('ships events whose detail is not ASCII (as text, not as the bytes it joins for ASCII batches) intact and within 60 KiB', async () => {
    const note = 'é'.repeat(120); // 240 bytes in UTF-8, 120 characters
    const { mac, posts } = await shipAll(600, (n) => ({ n, note }));
    for (const p of posts) expect(p.bodyBytes).toBeLessThanOrEqual(60 * 1024);
    const rows = await cloud.deps.db.all<{ detail: string }>(sql('SELECT detail FROM boot_events WHERE relay_id = ? AND mac = ?', creds.relayId, mac));
    expect(rows.map((r) => JSON.parse(r.detail).note)).toEqual(range(0, 600).map(() => note));
  });

  it('keeps its disk use under the cap by dropping the oldest events, and counts them', async () => {
    const dir = tempDir('events');
    const client = createCloudClient({ baseUrl: 'http://127.0.0.1:9', token: creds.token, retries: 0 });
    const q = new EventQueue({ dir, client, log: quiet, maxBytes: 64 * 1024, segmentBytes: 16 * 1024 });
    const mac = randomMac();
    for (const n of range(0, 2000)) {
      q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
      if (n % 100 === 0) q.flush();
    }
    q.flush();
    const bytes = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .reduce((s, f) => s + readFileSync(join(dir, f)).length, 0);
    expect(bytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    expect(q.dropped).toBeGreaterThan(0);
    expect(q.depth + q.dropped).toBe(2000);
    // What is kept is the newest history.
    const kept = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort()
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => (JSON.parse(l) as { detail: { n: number } }).detail.n);
    expect(kept.at(-1)).toBe(1999);
    expect(kept[0]).toBe(q.dropped);
    q.close();
    await client.close();
  });

  it('cuts a torn last line left by a crash and keeps the events before it', async () => {
    const dir = tempDir('events');
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const mac = randomMac();
    const q = new EventQueue({ dir, client, log: quiet });
    for (const n of range(0, 3)) q.emit({ mac, stage: 'dhcp-ack', detail: { n } });
    q.close();
    appendFileSync(join(dir, '000000000001.jsonl'), '{"id":"evt_torn","mac":');
    const again = new EventQueue({ dir, client, log: quiet, lingerMs: 0 });
    expect(again.depth).toBe(3);
    again.emit({ mac, stage: 'dhcp-ack', detail: { n: 3 } });
    again.start();
    await until('shipped', () => again.depth === 0);
    await again.stop();
    again.close();
    await client.close();
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 4));
  });

  it('under a storm ships a partial batch only once per interval, and a full one at once', async () => {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    // An interval no test outlives: every POST after the first is either full or not sent.
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet, lingerMs: 0, batchMaxEvents: 20, shipIntervalMs: 600_000 });
    const posts = () => cloud.requests.slice(before).filter((r) => r.path === '/v1/relay/events').length;
    const before = cloud.requests.length;
    q.start();
    for (const n of range(0, 5)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    await until('the first events shipped without waiting', () => q.shipped === 5);
    for (const n of range(5, 8)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    for (const n of range(8, 38)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    await until('a full batch shipped', () => q.shipped === 25);
    // 13 left: not a full batch, so they wait for the interval…
    expect(q.depth).toBe(13);
    // …until 7 more make one: 20 events in one POST, where an unpaced queue would have sent 13 and 7.
    for (const n of range(38, 45)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    await until('the second full batch shipped', () => q.shipped === 45);
    expect(posts()).toBe(3);
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 45));
    await q.stop();
    q.close();
    await client.close();
  });

  it('ships a backlog back to back: a batch the 60 KiB bound cut is full and does not wait for the pace', async () => {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet, lingerMs: 0, shipIntervalMs: 600_000 });
    const big = 'x'.repeat(200);
    for (const n of range(0, 1500)) q.emit({ mac, stage: 'tftp-start', detail: { n, big } });
    q.start();
    // ~300 B an event: five or more byte-bound batches, the last one partial and the only one left waiting.
    await until('all but the last batch shipped', () => q.depth > 0 && q.depth < 250);
    await q.stop();
    const shipped = q.shipped;
    q.close();
    await client.close();
    // Stopping may abort a POST the cloud already stored: in order, with no gap, at least what was acknowledged.
    const stored = await storedSeq(creds.relayId, mac);
    expect(stored).toEqual(range(0, stored.length));
    expect(stored.length).toBeGreaterThanOrEqual(shipped);
  });

  it("ships a backlog across segments back to back: a batch that ends with its segment does not wait for the pace", async () => {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet, lingerMs: 0, segmentBytes: 4 * 1024, shipIntervalMs: 600_000 });
    for (const n of range(0, 400)) {
      q.emit({ mac, stage: 'tftp-start', detail: { n } });
      if (n % 30 === 29) q.flush(); // turns end: the segment rotates past 4 KiB
    }
    q.flush();
    q.start();
    // ~120 B an event: segments of ~60 events, each its own batch; only the last may wait.
    await until('all but the last segment shipped', () => q.shipped >= 300);
    await q.stop();
    const shipped = q.shipped;
    q.close();
    await client.close();
    // Stopping may abort a POST the cloud already stored: in order, with no gap, at least what was acknowledged.
    const stored = await storedSeq(creds.relayId, mac);
    expect(stored).toEqual(range(0, stored.length));
    expect(stored.length).toBeGreaterThanOrEqual(shipped);
  });

  it('ships what waited for the pace once the interval has passed', async () => {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet, lingerMs: 0, batchMaxEvents: 20, shipIntervalMs: 300 });
    q.start();
    q.emit({ mac, stage: 'dhcp-discover', detail: { n: 0 } });
    await until('the first event shipped', () => q.shipped === 1);
    for (const n of range(1, 4)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    await until('the rest shipped', () => q.depth === 0);
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 4));
    await q.stop();
    q.close();
    await client.close();
  });

  it('keeps at most a few thousand events in memory: a turn that emits more writes them as it goes', async () => {
    const dir = tempDir('events');
    const client = createCloudClient({ baseUrl: 'http://127.0.0.1:9', token: creds.token, retries: 0 });
    const q = new EventQueue({ dir, client, log: quiet });
    const mac = randomMac();
    // One synchronous turn, as a flood of packets handled back to back would be: no flush has had its turn.
    for (const n of range(0, 10_000)) q.emit({ mac, stage: 'dhcp-discover', detail: { n } });
    const onDisk = readFileSync(join(dir, '000000000001.jsonl'), 'utf8').split('\n').filter(Boolean).length;
    expect(onDisk).toBe(8192);
    expect(q.depth).toBe(10_000);
    q.close();
    await client.close();
  });

  it('reads an ack record a power loss tore as the start of the oldest segment: it re-sends, and the cloud keeps one copy', async () => {
    const { mac, dir, client } = await tenShipped();
    // The ack is one fixed-size record overwritten in place; half of it reached the disk.
    const record = readFileSync(join(dir, 'ack.json'));
    expect(record.length).toBe(64);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'ack.json'), Buffer.concat([record.subarray(0, 20), Buffer.alloc(44)]));
    const replay = new EventQueue({ dir, client, log: quiet, lingerMs: 0 });
    expect(replay.depth).toBe(10);
    replay.start();
    await until('replayed', () => replay.depth === 0);
    await replay.stop();
    replay.close();
    await client.close();
    expect(JSON.parse(readFileSync(join(dir, 'ack.json'), 'utf8'))).toEqual({ segment: 1, offset: readFileSync(join(dir, '000000000001.jsonl')).length });
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 10));
  });

  it('replaces the ack after every batch, before the group commit, so a restart after a crash re-sends nothing', async () => {
    const dir = tempDir('events');
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    // No group commit during the test: the ack on disk is the one each batch wrote.
    const q = new EventQueue({ dir, client, log: quiet, lingerMs: 0, fsyncIntervalMs: 600_000 });
    for (const n of range(0, 10)) q.emit({ mac, stage: 'dhcp-offer', detail: { n } });
    q.start();
    await until('shipped', () => q.depth === 0);
    const segmentBytes = readFileSync(join(dir, '000000000001.jsonl')).length;
    expect(JSON.parse(readFileSync(join(dir, 'ack.json'), 'utf8'))).toEqual({ segment: 1, offset: segmentBytes });
    await q.stop();
    q.close();
    const posts = cloud.requests.length;
    const again = new EventQueue({ dir, client, log: quiet, lingerMs: 0 });
    expect(again.depth).toBe(0);
    again.close();
    await client.close();
    expect(cloud.requests.length).toBe(posts);
  });

  it('deletes a shipped segment only after the ack past it, and a restart starts from that ack', async () => {
    const dir = tempDir('events');
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir, client, log: quiet, lingerMs: 0, segmentBytes: 4 * 1024, fsyncIntervalMs: 600_000 });
    for (const n of range(0, 300)) q.emit({ mac, stage: 'dhcp-offer', detail: { n } });
    q.start();
    await until('shipped', () => q.depth === 0);
    for (const n of range(300, 310)) q.emit({ mac, stage: 'dhcp-offer', detail: { n } });
    await until('the next batch shipped, which moves past the full segments', () => q.shipped === 310);
    await q.stop();
    q.close();
    const segments = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
    const ack = JSON.parse(readFileSync(join(dir, 'ack.json'), 'utf8')) as { segment: number };
    expect(segments.length).toBeGreaterThan(0);
    expect(segments[0]).toBe(`${String(ack.segment).padStart(12, '0')}.jsonl`);
    expect(ack.segment).toBeGreaterThan(1);
    const again = new EventQueue({ dir, client, log: quiet });
    expect(again.depth).toBe(0);
    again.close();
    await client.close();
    expect(await storedSeq(creds.relayId, mac)).toEqual(range(0, 310));
  });

  it("ships a retrying machine's repeated offers as one event that counts them, and the timeline shows it once", async () => {
    const mac = randomMac();
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet, lingerMs: 0 });
    const base = Date.now() - 60_000;
    const at = (s: number) => new Date(base + s * 1000).toISOString();
    const detail = { kind: 'pxe', arch: 'x64-uefi', boot: 'ipxe.efi' };
    for (const s of [0, 4, 12, 28]) q.emit({ mac, stage: 'proxy-offer', at: at(s), detail });
    q.emit({ mac, stage: 'tftp-start', at: at(29), detail: { file: 'ipxe.efi' } });
    q.start();
    await until('shipped', () => q.depth === 0);
    await q.stop();
    q.close();
    await client.close();
    expect(q.shipped).toBe(5);
    expect(q.coalesced).toBe(3);
    const rows = await cloud.deps.db.all<{ stage: string; at: number; detail: string }>(sql('SELECT stage, at, detail FROM boot_events WHERE relay_id = ? AND mac = ? ORDER BY at', creds.relayId, mac));
    expect(rows.map((r) => [r.stage, new Date(r.at).toISOString(), JSON.parse(r.detail)])).toEqual([
      ['proxy-offer', at(0), { ...detail, repeats: 3, lastAt: at(28) }],
      ['tftp-start', at(29), { file: 'ipxe.efi' }],
    ]);
  });

  it('keeps an event the cloud would refuse out of the queue', () => {
    const client = createCloudClient({ baseUrl: cloud.url, token: creds.token });
    const q = new EventQueue({ dir: tempDir('events'), client, log: quiet });
    q.emit({ mac: 'not-a-mac', stage: 'dhcp-ack' });
    q.emit({ mac: randomMac(), stage: 'dhcp-ack', detail: { text: 'y'.repeat(300) } });
    expect(q.invalid).toBe(2);
    expect(q.depth).toBe(0);
    q.close();
    void client.close();
  });
});
