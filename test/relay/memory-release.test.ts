import { execFileSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildMemoryAddon } from '../../relay/build/native.ts';
import { MetricsRegistry } from '../../relay/src/http/metrics.ts';
import { createLogger } from '../../relay/src/log.ts';
import { IdleRelease, loadMemoryAddon, releaseMemory, startMemoryRelease } from '../../relay/src/memory-release.ts';

/**
 * The relay gives back what a busy spell left resident (relay/src/memory-release.ts): the decision,
 * the real Node-API module (relay/native/memory.c, built with the system cc) against glibc's real
 * heap in a child process run as the unit runs the relay (MALLOC_ARENA_MAX=1, --expose-gc), and the
 * watch inside a process.
 */
let addonPath: string;
beforeAll(() => {
  addonPath = buildMemoryAddon();
});

describe('when to give memory back', () => {
  it('releases once, in the first quiet window after a busy one', () => {
    const p = new IdleRelease({ busy: 0.05, quiet: 0.01 });
    expect([0.002, 0.004, 0.001].map((u) => p.window(u))).toEqual([false, false, false]); // idle from the start: nothing to give back
    expect(p.window(0.6)).toBe(false); // a storm
    expect(p.window(0.3)).toBe(false); // still busy
    expect(p.window(0.005)).toBe(true); // quiet: release
    expect([0.004, 0.001, 0.0].map((u) => p.window(u))).toEqual([false, false, false]); // once per spell
  });

  it('waits through a trickle that is neither busy nor quiet, and releases again after the next spell', () => {
    const p = new IdleRelease({ busy: 0.05, quiet: 0.01 });
    expect([0.2, 0.03, 0.02, 0.049].map((u) => p.window(u))).toEqual([false, false, false, false]);
    expect(p.window(0.009)).toBe(true);
    expect([0.02, 0.5, 0.0].map((u) => p.window(u))).toEqual([false, false, true]);
  });
});

describe('the memory module (relay/native/memory.c)', () => {
  it("reports malloc's heap and gives its free pages back to the kernel, which glibc alone does not", () => {
    // 40 MiB of 2 KiB buffers (malloc'd by Node's ArrayBuffer allocator), every 64th kept: the live
    // ones pin the heap, so glibc cannot shrink it from the top and keeps the freed 39 MiB resident.
    const child = `
      const { loadMemoryAddon, releaseMemory } = await import(${JSON.stringify(new URL('../../relay/src/memory-release.ts', import.meta.url).pathname)});
      const addon = loadMemoryAddon(${JSON.stringify(addonPath)});
      const before = addon.heap();
      let all = [];
      for (let i = 0; i < 20480; i++) all.push(Buffer.allocUnsafeSlow(2048).fill(i & 255));
      const grown = addon.heap();
      const kept = all.filter((_, i) => i % 64 === 0);
      all = null;
      gc();
      await new Promise((r) => setTimeout(r, 200)); // array buffers are freed after the collection
      gc();
      const freed = addon.heap();
      const rssFreed = process.memoryUsage.rss();
      await new Promise((r) => setTimeout(r, 1000));
      const rssLater = process.memoryUsage.rss();
      const r = releaseMemory(addon);
      console.log(JSON.stringify({ before, grown, freed, rssFreed, rssLater, r, kept: kept.length }));
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], { env: { ...process.env, MALLOC_ARENA_MAX: '1' }, encoding: 'utf8' });
    const m = JSON.parse(out.trim().split('\n').at(-1)!);
    const MiB = 1 << 20;
    expect(m.kept).toBe(320);
    expect(m.grown.arena - m.before.arena).toBeGreaterThan(38 * MiB);
    expect(m.freed.free).toBeGreaterThan(30 * MiB); // free inside the heap…
    expect(m.rssLater).toBeGreaterThan(m.rssFreed - 4 * MiB); // …and still resident a second later
    expect(m.r.collected).toBe(true);
    expect(m.r.mallocFreeBefore).toBeGreaterThan(30 * MiB);
    expect(m.r.rssBefore - m.r.rssAfter).toBeGreaterThan(25 * MiB); // given back
  });

  it('refuses a file that is not the memory module', () => {
    expect(() => loadMemoryAddon('/etc/hostname')).toThrow();
  });
});

describe('the watch in the relay', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('gives memory back in the first quiet window after a busy one, says so, and counts it', async () => {
    const lines: Record<string, unknown>[] = [];
    const metrics = new MetricsRegistry();
    stop = startMemoryRelease({ stateDir: '/nonexistent', log: createLogger({ write: (l) => lines.push(JSON.parse(l)) }).child('memory'), metrics, windowMs: 300, busy: 0.5, quiet: 0.2 });
    // A busy window: the loop spins for most of it.
    const until = performance.now() + 280;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 1000));
    const released = lines.filter((l) => l.msg === 'gave memory back after a busy spell');
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ component: 'memory', rssMiB: [expect.any(Number), expect.any(Number)], mallocFreeMiB: [expect.any(Number), expect.any(Number)] });
    const text = metrics.render();
    expect(text).toMatch(/^edgeboot_relay_memory_releases 1$/m);
    expect(text).toMatch(/^edgeboot_relay_malloc_free_bytes \d+$/m);
  });

  it('without the module or an exposed gc, measures and changes nothing', () => {
    expect(releaseMemory(null, undefined)).toMatchObject({ mallocFreeBefore: null, mallocFreeAfter: null, collected: false });
  });
});
