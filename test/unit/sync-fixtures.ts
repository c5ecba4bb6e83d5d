import type { RelaySnapshot, SnapshotMachine } from '../../shared/schemas/relay-sync.ts';
import { snapshotVersion } from '../../shared/sync/snapshot-version.ts';

/** The i-th MAC of a synthetic site: zero-padded lower-case hex, so index order is MAC order. */
export function macOf(i: number): string {
  const hex = i.toString(16).padStart(8, '0');
  return `02:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}`;
}

export function machine(i: number, extra: Partial<SnapshotMachine> = {}): SnapshotMachine {
  return { mac: macOf(i), machineId: `mch_${i}`, arch: 'bios', netboot: i % 3 !== 0, ...extra };
}

/** A snapshot with a correct version, as the cloud would send it. */
export function snapshotOf(machines: SnapshotMachine[], opts: { siteId?: string; unknownMachines?: RelaySnapshot['unknownMachines'] } = {}): RelaySnapshot {
  const content = { siteId: opts.siteId ?? 'site_lyon', unknownMachines: opts.unknownMachines ?? { netboot: false }, machines };
  return { version: snapshotVersion(content), ...content };
}

export function siteOf(n: number, opts?: Parameters<typeof snapshotOf>[1]): RelaySnapshot {
  return snapshotOf(Array.from({ length: n }, (_, i) => machine(i)), opts);
}
