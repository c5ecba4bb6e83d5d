/**
 * Gives memory back once the relay goes quiet after a busy spell (issue 18: "back to idle within a
 * minute" after a storm of new MACs).
 *
 * What stays resident after a storm is not live data: V8's heap holds garbage no collection has
 * needed to reclaim yet, and glibc's heap holds free chunks it cannot return, because it only gives
 * back memory from the top of the heap (relay/native/memory.c). Measured with bench:dhcp's proxy
 * sweep (1,000 → 10,000 DISCOVERs/s): 60 s after it, V8's heap was 23.5 MiB (14.9 after a full
 * collection) and malloc's arena 25 MiB with 14 MiB free; a full collection and malloc_trim(0)
 * brought the RSS from 110 back to 92 MiB, where it was before the sweep.
 *
 * So every `windowMs` the relay reads its event loop's utilisation over the window. A window above
 * `busy` marks the process as having something to give back; the first window after that below
 * `quiet` releases it: a full collection (when V8 exposes `gc`, as the packaged executable does with
 * --expose-gc) and then malloc_trim. One release per busy spell: a quiet relay does nothing, a
 * relay under steady load never pauses for it (a collection of the idle heap took 23 ms).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { MetricsRegistry } from './http/metrics.ts';
import type { Logger } from './log.ts';
import { nativeFile } from './native-file.ts';

export const MEMORY_ADDON_NAME = 'edgeboot-memory.node';

export interface MallocHeap {
  arena: number;
  inUse: number;
  free: number;
}
export interface MemoryAddon {
  trim(): boolean;
  heap(): MallocHeap;
}

const loaded = new Map<string, MemoryAddon>();

/** The Node-API module at `path` (relay/native/memory.c), loaded once per process (relays in one process share it). */
export function loadMemoryAddon(path: string): MemoryAddon {
  const known = loaded.get(path);
  if (known) return known;
  const module = { exports: {} as MemoryAddon };
  process.dlopen(module, path);
  if (typeof module.exports.trim !== 'function' || typeof module.exports.heap !== 'function') throw new Error(`${path} is not edgeboot's memory module`);
  loaded.set(path, module.exports);
  return module.exports;
}

export interface IdleReleaseOptions {
  /** Event-loop utilisation (0–1) of a window that marks a busy spell. */
  busy?: number;
  /** Utilisation below which a window counts as quiet. */
  quiet?: number;
}

/**
 * The decision alone: fed one utilisation per window, says when to release. Busy marks, quiet
 * releases once; anything in between (a trickle of clients) neither marks nor releases.
 */
export class IdleRelease {
  #pending = false;
  readonly #busy: number;
  readonly #quiet: number;

  constructor(o: IdleReleaseOptions = {}) {
    this.#busy = o.busy ?? 0.05;
    this.#quiet = o.quiet ?? 0.01;
  }

  /** True when this window should release what the busy spell left behind. */
  window(utilization: number): boolean {
    if (utilization >= this.#busy) this.#pending = true;
    else if (this.#pending && utilization < this.#quiet) {
      this.#pending = false;
      return true;
    }
    return false;
  }
}

export interface Release {
  rssBefore: number;
  rssAfter: number;
  /** malloc's free bytes before and after the trim (null without the native module). */
  mallocFreeBefore: number | null;
  mallocFreeAfter: number | null;
  collected: boolean;
  ms: number;
}

/** A full collection (when exposed) and a malloc_trim (when the module is there), measured. */
export function releaseMemory(addon: MemoryAddon | null, gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc): Release {
  const t0 = performance.now();
  const rssBefore = process.memoryUsage.rss();
  const mallocFreeBefore = addon ? addon.heap().free : null;
  gc?.();
  addon?.trim();
  return { rssBefore, rssAfter: process.memoryUsage.rss(), mallocFreeBefore, mallocFreeAfter: addon ? addon.heap().free : null, collected: gc !== undefined, ms: performance.now() - t0 };
}

/**
 * Starts the watch: the native module from the state directory or beside the bundle (without it,
 * only the collection runs, and the log says why), a timer per window (unref'd), metrics. Returns stop.
 */
export function startMemoryRelease(o: { stateDir: string; log: Logger; metrics: MetricsRegistry; windowMs?: number } & IdleReleaseOptions): () => void {
  let addon: MemoryAddon | null = null;
  let path: string | null = null;
  try {
    // Copied out of the executable on first use: a full or read-only state directory must not stop the relay.
    path = nativeFile(MEMORY_ADDON_NAME, o.stateDir);
    if (path) addon = loadMemoryAddon(path);
    else o.log.info('no memory module beside the relay (npm run build:relay builds it): freed memory is only collected, not given back', { name: MEMORY_ADDON_NAME });
  } catch (err) {
    o.log.warn('cannot load the memory module: memory freed after a busy spell stays with the relay', { path, err });
  }
  const policy = new IdleRelease(o);
  let releases = 0;
  let releasedBytes = 0;
  o.metrics.gauge('edgeboot_relay_memory_releases', 'times the relay gave memory back after a busy spell (a full collection and malloc_trim)', () => releases);
  o.metrics.gauge('edgeboot_relay_memory_released_bytes', 'resident bytes those releases gave back', () => releasedBytes);
  o.metrics.gauge('edgeboot_relay_malloc_free_bytes', "bytes free inside malloc's heap, resident until given back (-1: no memory module)", () => addon?.heap().free ?? -1);
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (!policy.window(u)) return;
    const r = releaseMemory(addon);
    releases++;
    releasedBytes += Math.max(0, r.rssBefore - r.rssAfter);
    o.log.info('gave memory back after a busy spell', {
      rssMiB: [mib(r.rssBefore), mib(r.rssAfter)],
      ...(r.mallocFreeBefore !== null ? { mallocFreeMiB: [mib(r.mallocFreeBefore), mib(r.mallocFreeAfter!)] } : {}),
      collected: r.collected,
      ms: Math.round(r.ms),
    });
  }, o.windowMs ?? 10_000);
  timer.unref();
  return () => clearInterval(timer);
}

const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
