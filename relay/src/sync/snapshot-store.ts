import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { normalizeMac } from '../../../shared/mac.ts';
import type { Arch } from '../../../shared/schemas/common.ts';
import { RelaySnapshot, type Netboot, type SignedLoader } from '../../../shared/schemas/relay-sync.ts';
import type { Logger } from '../log.ts';
import { writeFileDurable } from '../http/cache/durable-file.ts';

/**
 * The site snapshot the DHCP loop decides from (issue C: "decisions never wait on the WAN"). Kept in
 * memory with a MAC index, and persisted atomically so a relay restarted while the cloud is down
 * still answers the machines it knew. Without any snapshot the relay answers nobody (fail closed).
 */
export class SnapshotStore {
  readonly #path: string;
  readonly #log: Logger;
  #snapshot: RelaySnapshot | null = null;
  #byMac = new Map<string, { netboot: Netboot; loader?: SignedLoader }>();
  readonly #listeners: Array<(s: RelaySnapshot) => void> = [];
  /** When the cloud last confirmed this snapshot (200 or 304); null if only loaded from disk. */
  confirmedAt: number | null = null;
  /** When the snapshot was last stored (from the cloud, now or in an earlier run). */
  storedAt: number | null = null;

  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#load();
  }

  #load(): void {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch {
      return;
    }
    try {
      const saved = JSON.parse(text) as { storedAt: number; snapshot: unknown };
      this.#install(RelaySnapshot.parse(saved.snapshot));
      this.storedAt = saved.storedAt;
    } catch (err) {
      this.#log.error('ignoring an unreadable saved snapshot', { path: this.#path, err });
    }
  }

  #install(s: RelaySnapshot): void {
    const index = new Map<string, { netboot: Netboot; loader?: SignedLoader }>();
    for (const m of s.machines) {
      const mac = normalizeMac(m.mac);
      if (mac) index.set(mac, m.loader ? { netboot: m.netboot, loader: m.loader } : { netboot: m.netboot });
    }
    this.#snapshot = s;
    this.#byMac = index;
    for (const fn of this.#listeners) fn(s);
  }

  /** Called with every snapshot installed from now on (and at once with the held one, if any). */
  onInstall(fn: (s: RelaySnapshot) => void): void {
    this.#listeners.push(fn);
    if (this.#snapshot) fn(this.#snapshot);
  }

  /**
   * The shim and GRUB a UEFI x64 machine boots through (its own entry, else the site default for
   * MACs not listed), or null: iPXE. Asked only after `netbootFor` said yes.
   */
  loaderFor(mac: string): SignedLoader | null {
    if (!this.#snapshot) return null;
    const key = normalizeMac(mac);
    if (key === null) return null;
    const m = this.#byMac.get(key);
    return (m ? m.loader : this.#snapshot.unknownMachines.loader) ?? null;
  }

  get snapshot(): RelaySnapshot | null {
    return this.#snapshot;
  }

  /** The strong ETag of the held snapshot, for If-None-Match. */
  get etag(): string | null {
    return this.#snapshot ? `"${this.#snapshot.version}"` : null;
  }

  /**
   * Installs a snapshot from the cloud (validated by the caller's schema parse) at once, and saves it
   * off the loop: the write and its fsyncs run on the thread pool, one at a time, and a snapshot
   * that arrives while one is being written replaces whatever was still waiting (only the newest is
   * worth saving). A snapshot that cannot be saved (disk full, read-only state dir) is still the
   * newest truth: it stays installed and the failure is logged, so only a restart during the outage
   * falls back to the older file. `saved()` resolves once the newest snapshot is on disk (or failed).
   */
  replace(s: RelaySnapshot, now = Date.now()): void {
    this.#install(s);
    this.storedAt = now;
    this.confirmedAt = now;
    this.#pendingSave = { storedAt: now, snapshot: s };
    this.#saving ??= this.#drainSaves().finally(() => {
      this.#saving = null;
    });
  }

  /** Resolves when every snapshot installed so far has been written (or its write has failed). */
  async saved(): Promise<void> {
    while (this.#saving) await this.#saving;
  }

  #pendingSave: { storedAt: number; snapshot: RelaySnapshot } | null = null;
  #saving: Promise<void> | null = null;

  async #drainSaves(): Promise<void> {
    for (let next = this.#pendingSave; next; next = this.#pendingSave) {
      this.#pendingSave = null;
      try {
        await writeFileDurable(this.#path, JSON.stringify(next), 'snapshot');
      } catch (err) {
        this.#log.once('snapshot-save', 'cannot save the snapshot; answering from it anyway', { path: this.#path, err });
      }
    }
  }

  confirm(now = Date.now()): void {
    this.confirmedAt = now;
  }

  /**
   * Whether to answer this client's PXE request at all (shared/schemas/relay-sync.ts): a listed
   * machine follows its `netboot` (true, false, or a list of architectures), any other MAC the site
   * default. A machine that should boot locally gets no answer, so its firmware falls through to disk.
   */
  netbootFor(mac: string, arch: Arch | null): boolean {
    if (!this.#snapshot) return false;
    const key = normalizeMac(mac);
    if (key === null) return false;
    const n = this.#byMac.get(key)?.netboot;
    if (n === undefined) return this.#snapshot.unknownMachines.netboot;
    if (typeof n === 'boolean') return n;
    return arch !== null && n.includes(arch);
  }
}
