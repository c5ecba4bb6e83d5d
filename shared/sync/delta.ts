import type { RelaySnapshot, RelaySnapshotDelta, SnapshotMachine } from '../schemas/relay-sync.ts';
import { SYNC_PAGE_MACHINES } from './paging.ts';
import { snapshotVersion, type Sha256Hex } from './snapshot-version.ts';

/**
 * Snapshot deltas (issue 16): when one machine of a 50,000-machine site changes, the relay gets that
 * machine, not the site. Both functions are pure; the cloud calls `diffSnapshots`, the relay
 * `applyDeltaVerified`, and the shared `snapshotVersion` lets the relay prove the result is exactly
 * the snapshot the cloud meant (any bug or mix-up on either side ends in a full fetch, not a wrong
 * boot decision).
 */

/** The order the cloud sorts machines in (cloud/src/boot/site-snapshot.ts): plain `<` on the MAC strings. */
export function byMac(a: SnapshotMachine, b: SnapshotMachine): number {
  return a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0;
}

/** Length of the JSON of `envelope` once its one empty array holds items whose JSON (with commas) is `itemLengths` long. */
function lengthWith(envelope: object, itemLengths: number): number {
  return JSON.stringify(envelope).length + itemLengths;
}

/**
 * The delta from `base` to `next`, or null when it is not worth sending: the sites differ, it would
 * not be smaller than `next` in full (compared as JSON text), or it touches more machines than a page
 * holds (deltas are never paged: a change that large goes as the full, paged snapshot).
 * `upsert` lists new and changed machines in `next`'s order; `remove` the MACs `next` no longer has.
 */
export function diffSnapshots(base: RelaySnapshot, next: RelaySnapshot): RelaySnapshotDelta | null {
  if (base.siteId !== next.siteId) return null;
  // Plain JSON.stringify to compare: two builds of the same machine by the same code write the same
  // key order, and a machine that differs only in key order is at worst sent needlessly (the version,
  // hashed canonically, is what must match). Its length is the length of what is sent.
  const before = new Map<string, string>();
  for (const m of base.machines) before.set(m.mac, JSON.stringify(m));

  const upsert: SnapshotMachine[] = [];
  let upsertChars = 0;
  let fullChars = 0;
  const present = new Set<string>();
  for (const m of next.machines) {
    const text = JSON.stringify(m);
    fullChars += text.length;
    present.add(m.mac);
    if (before.get(m.mac) !== text) {
      upsert.push(m);
      upsertChars += text.length;
    }
  }
  const remove: string[] = [];
  for (const m of base.machines) if (!present.has(m.mac)) remove.push(m.mac);
  if (upsert.length + remove.length > SYNC_PAGE_MACHINES) return null;

  const delta: RelaySnapshotDelta = { version: next.version, base: base.version, siteId: next.siteId, unknownMachines: next.unknownMachines, upsert: [], remove };
  const deltaSize = lengthWith(delta, upsertChars + Math.max(0, upsert.length - 1));
  const fullSize = lengthWith({ version: next.version, siteId: next.siteId, unknownMachines: next.unknownMachines, machines: [] }, fullChars + Math.max(0, next.machines.length - 1));
  if (deltaSize >= fullSize) return null;
  delta.upsert = upsert;
  return delta;
}

/**
 * `base` with the delta applied: the MACs in `remove` dropped, then every `upsert` entry put in place
 * of the one with its MAC (or added), machines sorted by MAC the way the cloud sorts them, and the
 * delta's `version` and `unknownMachines`. Does not check anything: see `applyDeltaVerified`.
 */
export function applyDelta(base: RelaySnapshot, delta: RelaySnapshotDelta): RelaySnapshot {
  const byMacMap = new Map<string, SnapshotMachine>();
  for (const m of base.machines) byMacMap.set(m.mac, m);
  for (const mac of delta.remove) byMacMap.delete(mac);
  for (const m of delta.upsert) byMacMap.set(m.mac, m);
  // base.machines is already sorted, so this sort mostly merges runs (TimSort): near-linear.
  const machines = [...byMacMap.values()].sort(byMac);
  return { version: delta.version, siteId: delta.siteId, unknownMachines: delta.unknownMachines, machines };
}

/** Why a delta was not applied (for the relay's log line). */
export type DeltaRejection = 'base_mismatch' | 'site_mismatch' | 'version_mismatch';

/**
 * The delta applied to `base`, only when it was made for exactly that snapshot (same `base` version
 * and site) and the result hashes to the version the delta announces; otherwise null.
 */
export function applyDeltaVerified(base: RelaySnapshot, delta: RelaySnapshotDelta, sha256Hex?: Sha256Hex): RelaySnapshot | null {
  return checkDelta(base, delta, sha256Hex).snapshot;
}

/** `applyDeltaVerified` with the reason when it refuses. */
export function checkDelta(base: RelaySnapshot, delta: RelaySnapshotDelta, sha256Hex?: Sha256Hex): { snapshot: RelaySnapshot; rejected: null } | { snapshot: null; rejected: DeltaRejection } {
  if (delta.base !== base.version) return { snapshot: null, rejected: 'base_mismatch' };
  if (delta.siteId !== base.siteId) return { snapshot: null, rejected: 'site_mismatch' };
  const applied = applyDelta(base, delta);
  if (snapshotVersion(applied, sha256Hex) !== delta.version) return { snapshot: null, rejected: 'version_mismatch' };
  return { snapshot: applied, rejected: null };
}
