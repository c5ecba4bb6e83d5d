import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileIndexStore, SourceIndex, type IndexStore, type Schedule } from '../../../relay/src/http/cache/source-index.ts';
import { createLogger } from '../../../relay/src/log.ts';

const SHA = 'a'.repeat(64);
const log = createLogger({ component: 'test', write: () => undefined });

/** Test double for the disk (the port's consumer is what is under test): records every write, settles on demand. */
function recordingStore(initial: string | null = null) {
  const saves: string[] = [];
  const now: string[] = [];
  let settle: Array<{ ok: () => void; fail: (e: Error) => void }> = [];
  const store: IndexStore = {
    load: () => initial,
    save: (text) => {
      saves.push(text);
      return new Promise<void>((ok, fail) => settle.push({ ok, fail }));
    },
    saveNow: (text) => void now.push(text),
  };
  return {
    store,
    saves,
    now,
    inFlight: () => settle.length,
    async finish(err?: Error) {
      const s = settle;
      settle = [];
      for (const p of s) (err ? p.fail(err) : p.ok());
      await new Promise((r) => setImmediate(r));
    },
  };
}

/** Test double for the timer: nothing fires until the test says so. */
function manualTimers() {
  const timers: Array<{ fn: () => void; ms: number; live: boolean }> = [];
  const schedule: Schedule = (fn, ms) => {
    const t = { fn, ms, live: true };
    timers.push(t);
    return () => void (t.live = false);
  };
  return {
    schedule,
    armed: () => timers.filter((t) => t.live).map((t) => t.ms),
    fire() {
      for (const t of timers.splice(0)) if (t.live) t.fn();
    },
  };
}

const pathOf = (text: string, id: string) => (JSON.parse(text) as Record<string, { path: string }>)[id]!.path;

describe('source index (sources.json, write-behind)', () => {
  it('keeps 500 changed signed paths in memory and writes nothing until its one timer fires', async () => {
    const disk = recordingStore();
    const timers = manualTimers();
    const index = new SourceIndex({ store: disk.store, log, schedule: timers.schedule, delayMs: 1000 });
    for (let i = 0; i < 500; i++) index.setPath('img_a', `/v1/files/img_a?sig=${i}`);
    expect(disk.saves).toHaveLength(0);
    expect(disk.now).toHaveLength(0);
    expect(timers.armed()).toEqual([1000]);
    expect(index.get('img_a')?.path).toBe('/v1/files/img_a?sig=499');
    timers.fire();
    expect(disk.saves).toHaveLength(1);
    expect(pathOf(disk.saves[0]!, 'img_a')).toBe('/v1/files/img_a?sig=499');
    await disk.finish();
    expect(index.writes).toBe(1);
  });

  it('writes nothing for a path it already knows', async () => {
    const disk = recordingStore(JSON.stringify({ img_a: { path: '/v1/files/img_a?sig=1', sha256: SHA, size: 10 } }));
    const timers = manualTimers();
    const index = new SourceIndex({ store: disk.store, log, schedule: timers.schedule });
    index.setPath('img_a', '/v1/files/img_a?sig=1');
    index.setObject('img_a', SHA, 10);
    expect(timers.armed()).toEqual([]);
    await index.saved();
    expect(disk.saves).toHaveLength(0);
  });

  it('has at most one write in flight; changes made meanwhile go in the next one', async () => {
    const disk = recordingStore();
    const timers = manualTimers();
    const index = new SourceIndex({ store: disk.store, log, schedule: timers.schedule, delayMs: 1000 });
    index.setPath('img_a', '/v1/files/img_a?sig=1');
    timers.fire();
    expect(disk.inFlight()).toBe(1);
    index.setPath('img_a', '/v1/files/img_a?sig=2');
    timers.fire(); // due while the first write still runs: it must wait
    expect(disk.saves).toHaveLength(1);
    const saved = index.saved();
    await disk.finish();
    expect(disk.saves).toHaveLength(2); // started as soon as the first settled
    expect(pathOf(disk.saves[1]!, 'img_a')).toBe('/v1/files/img_a?sig=2');
    await disk.finish();
    await saved;
    expect(index.writes).toBe(2);
  });

  it('saves a verified object link without waiting for the delay, still asynchronously', () => {
    const disk = recordingStore();
    const timers = manualTimers();
    const index = new SourceIndex({ store: disk.store, log, schedule: timers.schedule, delayMs: 1000 });
    index.setPath('img_a', '/v1/files/img_a?sig=1');
    index.setObject('img_a', SHA, 123);
    expect(timers.armed()).toEqual([0]);
    expect(disk.saves).toHaveLength(0);
    timers.fire();
    expect(JSON.parse(disk.saves[0]!)).toEqual({ img_a: { path: '/v1/files/img_a?sig=1', sha256: SHA, size: 123 } });
  });

  it('tries a failed write again later, and saved() waits for a write that worked', async () => {
    const disk = recordingStore();
    const timers = manualTimers();
    const index = new SourceIndex({ store: disk.store, log, schedule: timers.schedule, delayMs: 1000 });
    index.setPath('img_a', '/v1/files/img_a?sig=1');
    let done = false;
    void index.saved().then(() => (done = true));
    timers.fire();
    await disk.finish(new Error('ENOSPC'));
    expect(done).toBe(false);
    expect(timers.armed()).toEqual([1000]);
    timers.fire();
    await disk.finish();
    expect(done).toBe(true);
    expect(disk.saves).toHaveLength(2);
  });

  it('on close, writes what is unsaved at once, or right after the write in flight', async () => {
    const idle = recordingStore();
    const a = new SourceIndex({ store: idle.store, log, schedule: manualTimers().schedule });
    a.setPath('img_a', '/v1/files/img_a?sig=1');
    void a.close();
    expect(idle.now).toHaveLength(1); // synchronously: a caller that does not await still has it on disk

    const busy = recordingStore();
    const timers = manualTimers();
    const b = new SourceIndex({ store: busy.store, log, schedule: timers.schedule });
    b.setPath('img_a', '/v1/files/img_a?sig=1');
    timers.fire();
    b.setPath('img_a', '/v1/files/img_a?sig=2');
    const closed = b.close();
    expect(busy.now).toHaveLength(0); // not over the write in flight, whose older snapshot would land last
    await busy.finish();
    await closed;
    expect(busy.now.map((t) => pathOf(t, 'img_a'))).toEqual(['/v1/files/img_a?sig=2']);
  });

  it('after a crash, the file holds the last completed write: older paths, never a torn file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeboot-index-')), 'sources.json');
    const timers = manualTimers();
    const before = new SourceIndex({ store: fileIndexStore(path), log, schedule: timers.schedule });
    before.setObject('img_a', SHA, 5, '/v1/files/img_a?sig=1');
    timers.fire();
    await before.saved();
    before.setPath('img_a', '/v1/files/img_a?sig=2'); // learned, never written: the crash comes first
    const after = new SourceIndex({ store: fileIndexStore(path), log });
    expect(after.get('img_a')).toEqual({ path: '/v1/files/img_a?sig=1', sha256: SHA, size: 5 });
  });

  it('skips malformed entries of a saved file and keeps the rest', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeboot-index-')), 'sources.json');
    writeFileSync(path, JSON.stringify({ img_a: { path: '/v1/files/img_a?sig=1', sha256: 'nothex', size: 1 }, img_b: 7, img_c: { path: null, sha256: SHA, size: 9 } }));
    const index = new SourceIndex({ store: fileIndexStore(path), log });
    expect(index.get('img_a')).toEqual({ path: '/v1/files/img_a?sig=1', sha256: null, size: null });
    expect(index.get('img_b')).toBeUndefined();
    expect(index.get('img_c')).toEqual({ path: null, sha256: SHA, size: 9 });
    expect(readFileSync(path, 'utf8')).toContain('nothex'); // loading rewrites nothing
  });
});
