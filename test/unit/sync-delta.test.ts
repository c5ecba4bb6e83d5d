import { describe, expect, it } from 'vitest';
import type { RelaySnapshotDelta } from '../../shared/schemas/relay-sync.ts';
import { applyDelta, applyDeltaVerified, checkDelta, diffSnapshots } from '../../shared/sync/delta.ts';
import { SYNC_PAGE_MACHINES } from '../../shared/sync/paging.ts';
import { snapshotVersion } from '../../shared/sync/snapshot-version.ts';
import { machine, macOf, siteOf, snapshotOf } from './sync-fixtures.ts';

const LOADER = { shim: 'img_shim', grub: 'img_grub' };

describe('diffSnapshots and applyDelta', () => {
  it('sends one changed machine, one added and one removed, and applying gives the new snapshot exactly', () => {
    const base = siteOf(100);
    const machines = base.machines.filter((m) => m.mac !== macOf(7)).map((m) => (m.mac === macOf(40) ? { ...m, netboot: ['uefi-arm64' as const] } : m));
    machines.push(machine(1000));
    const next = snapshotOf(machines);
    const delta = diffSnapshots(base, next)!;
    expect(delta).toMatchObject({ base: base.version, version: next.version, siteId: 'site_lyon', remove: [macOf(7)] });
    expect(delta.upsert.map((m) => m.mac)).toEqual([macOf(40), macOf(1000)]);
    expect(applyDeltaVerified(base, delta)).toEqual(next);
  });

  it('keeps the machines sorted by MAC when upserts fall between existing ones', () => {
    const base = snapshotOf([machine(0), machine(10), machine(20)]);
    const delta: RelaySnapshotDelta = { version: '', base: base.version, siteId: base.siteId, unknownMachines: base.unknownMachines, upsert: [machine(15), machine(5)], remove: [] };
    expect(applyDelta(base, delta).machines.map((m) => m.mac)).toEqual([0, 5, 10, 15, 20].map(macOf));
  });

  it('sends only the site default when nothing else changed', () => {
    const base = siteOf(50);
    const next = snapshotOf(base.machines, { unknownMachines: { netboot: true, loader: LOADER } });
    const delta = diffSnapshots(base, next)!;
    expect(delta.upsert).toEqual([]);
    expect(delta.remove).toEqual([]);
    expect(delta.unknownMachines).toEqual({ netboot: true, loader: LOADER });
    expect(applyDeltaVerified(base, delta)).toEqual(next);
  });

  it('carries a loader added to a machine, and its removal', () => {
    const base = siteOf(50);
    const withLoader = snapshotOf(base.machines.map((m) => (m.mac === macOf(3) ? { ...m, arch: 'uefi-x64' as const, loader: LOADER } : m)));
    const added = diffSnapshots(base, withLoader)!;
    expect(added.upsert).toEqual([{ ...machine(3), arch: 'uefi-x64', loader: LOADER }]);
    const after = applyDeltaVerified(base, added)!;
    expect(after.machines[3]!.loader).toEqual(LOADER);

    const withoutLoader = snapshotOf(withLoader.machines.map((m) => (m.mac === macOf(3) ? { ...machine(3), arch: 'uefi-x64' as const } : m)));
    const removed = diffSnapshots(withLoader, withoutLoader)!;
    expect(removed.upsert).toEqual([{ ...machine(3), arch: 'uefi-x64' }]);
    const back = applyDeltaVerified(after, removed)!;
    expect('loader' in back.machines[3]!).toBe(false);
    expect(back).toEqual(withoutLoader);
  });

  it('applies a delta that removes every machine, but the cloud sends the (smaller) full snapshot instead', () => {
    const base = siteOf(100);
    const empty = snapshotOf([]);
    expect(diffSnapshots(base, empty)).toBeNull();
    const delta: RelaySnapshotDelta = { version: empty.version, base: base.version, siteId: base.siteId, unknownMachines: base.unknownMachines, upsert: [], remove: base.machines.map((m) => m.mac) };
    expect(applyDeltaVerified(base, delta)).toEqual(empty);
  });

  it('gives null from an empty snapshot (the full one is smaller than a delta of it) and between sites', () => {
    expect(diffSnapshots(snapshotOf([]), siteOf(3))).toBeNull();
    expect(diffSnapshots(siteOf(100), siteOf(100, { siteId: 'site_oslo' }))).toBeNull();
  });

  it('gives null when more machines changed than a page holds (deltas are never paged)', () => {
    const base = siteOf(SYNC_PAGE_MACHINES + 10);
    const next = snapshotOf(base.machines.map((m, i) => (i <= SYNC_PAGE_MACHINES ? { ...m, machineId: `${m.machineId}x` } : m)));
    expect(diffSnapshots(base, next)).toBeNull();
  });

  it('makes a delta of 10 changes in a 50,000-machine site under 1% of the full snapshot, and it applies', () => {
    const base = siteOf(50_000);
    const changed = new Set([1, 999, 12_345, 25_000, 49_999]);
    const removed = new Set([2, 30_000]);
    const machines = base.machines.map((m, i) => (changed.has(i) ? { ...m, netboot: !m.netboot } : m)).filter((_, i) => !removed.has(i));
    machines.push(machine(60_000), machine(60_001), machine(60_002));
    const next = snapshotOf(machines);
    const delta = diffSnapshots(base, next)!;
    expect(delta.upsert).toHaveLength(8);
    expect(delta.remove).toEqual([macOf(2), macOf(30_000)]);
    expect(JSON.stringify(delta).length).toBeLessThan(JSON.stringify(next).length / 100);
    expect(applyDeltaVerified(base, delta)).toEqual(next);
  });
});

describe('applyDeltaVerified', () => {
  it('refuses a delta whose announced version the result does not hash to', () => {
    const base = siteOf(20);
    const next = snapshotOf([...base.machines, machine(500)]);
    const delta = diffSnapshots(base, next)!;
    const wrong = { ...delta, version: snapshotVersion(siteOf(21)) };
    expect(checkDelta(base, wrong)).toEqual({ snapshot: null, rejected: 'version_mismatch' });
    // A tampered entry with the right version is refused too.
    const tampered = { ...delta, upsert: [{ ...delta.upsert[0]!, netboot: false }] };
    expect(applyDeltaVerified(base, tampered)).toBeNull();
  });

  it('refuses a delta made for another version or another site', () => {
    const base = siteOf(20);
    const delta = diffSnapshots(base, snapshotOf([...base.machines, machine(500)]))!;
    expect(checkDelta(siteOf(19), delta).rejected).toBe('base_mismatch');
    const foreign = { ...siteOf(20, { siteId: 'site_oslo' }), version: base.version };
    expect(checkDelta(foreign, delta).rejected).toBe('site_mismatch');
  });
});
