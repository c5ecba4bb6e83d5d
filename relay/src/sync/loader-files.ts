import { RelayLoaderFiles, type RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import type { ImageCache } from '../http/image-cache.ts';
import type { Logger } from '../log.ts';
import { backoffMs, sleep } from './backoff.ts';
import type { CloudClient } from './cloud-client.ts';

/**
 * Keeps the shim and GRUB images the snapshot names in the image cache, so that a Secure Boot
 * machine's firmware finds them on local disk the moment it asks over TFTP (the firmware does not
 * wait for a WAN fetch, and TFTP reads synchronously). On every new snapshot it asks the cloud for
 * the signed sources of the missing ones (`GET /v1/relay/loaders`) and fills them one after the other,
 * retrying with backoff while the cloud is unreachable. Images already cached cost nothing.
 */
export class LoaderFiles {
  readonly #client: CloudClient;
  readonly #cache: ImageCache;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #wanted = new Set<string>();
  #running: Promise<void> | null = null;
  #again = false;

  constructor(o: { client: CloudClient; cache: ImageCache; log: Logger }) {
    this.#client = o.client;
    this.#cache = o.cache;
    this.#log = o.log;
  }

  /** Snapshot listener: remembers which loader images the site needs, and fetches the missing ones. */
  update(s: RelaySnapshot): void {
    const ids = new Set<string>();
    for (const l of [s.unknownMachines.loader, ...s.machines.map((m) => m.loader)]) if (l) ids.add(l.shim).add(l.grub);
    this.#wanted = ids;
    this.refetch();
  }

  /** Fetches what is missing of the images already wanted (one that was evicted, or failed): cheap when nothing is. */
  refetch(): void {
    if (this.missing().length === 0) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#run().finally(() => (this.#running = null));
  }

  /** Loader images the snapshot names that are not on local disk yet. */
  missing(): string[] {
    return [...this.#wanted].filter((id) => !this.#cache.localObject(id));
  }

  /** Resolves when the current round of fetches has ended (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    for (let attempt = 0; !this.#stop.signal.aborted; attempt++) {
      this.#again = false;
      const missing = this.missing();
      if (missing.length === 0) return;
      try {
        const r = await this.#client.json({ method: 'GET', path: '/v1/relay/loaders', retry: true, signal: this.#stop.signal });
        if (r.status !== 200) throw new Error(`the cloud answered ${r.status}`);
        const { files } = RelayLoaderFiles.parse(r.body);
        for (const f of files.filter((f) => missing.includes(f.imageId))) {
          await this.#cache.prefetch(f.imageId, f.path);
          this.#log.info('boot loader image cached', { imageId: f.imageId, bytes: f.size });
        }
        const still = this.missing();
        if (still.length === 0 && !this.#again) return;
        if (still.length > 0 && !this.#again) this.#log.once('loader-unavailable', 'the cloud has no ready image for some boot loaders the snapshot names', { imageIds: still.join(',') });
        if (!this.#again) return;
        attempt = -1;
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        this.#log.once('loader-fetch', 'could not fetch the boot loader images yet; retrying', { err: (err as Error).message });
        await sleep(backoffMs(attempt, 1_000, 60_000), this.#stop.signal);
      }
    }
  }

  stop(): void {
    this.#stop.abort();
  }
}
