import { z } from 'zod';
import { Arch } from './common.ts';

/**
 * What a relay needs to answer DHCP from local state (iPXE waits ~2 s for a proxy offer: no time to
 * ask the cloud). The relay picks the boot file for the client's architecture itself; this only says
 * whether to offer one at all.
 */
export const Netboot = z
  .union([z.boolean(), z.array(Arch)])
  .meta({ description: 'true: netboot whatever the architecture; false: never (local disk); a list: only for these architectures' });
export type Netboot = z.infer<typeof Netboot>;

/**
 * UEFI x64 firmware of this machine is chained to shim → GRUB instead of iPXE (the profile it gets
 * names them): the relay serves both from its image cache over TFTP, so it must hold them before the
 * machine asks (`GET /v1/relay/loaders` gives their sources).
 */
export const SignedLoader = z.object({ shim: z.string(), grub: z.string() });
export type SignedLoader = z.infer<typeof SignedLoader>;

export const SnapshotMachine = z.object({
  mac: z.string(),
  machineId: z.string().nullable().meta({ description: 'null for a MAC that is assigned but has not booted yet' }),
  arch: Arch.nullable(),
  netboot: Netboot,
  loader: SignedLoader.optional().meta({ description: 'UEFI x64: boot through this shim and GRUB (absent: iPXE)' }),
});
export type SnapshotMachine = z.infer<typeof SnapshotMachine>;

export const RelaySnapshot = z
  .object({
    version: z.string().meta({ description: 'hash of the content; also the strong ETag' }),
    siteId: z.string(),
    unknownMachines: z.object({ netboot: z.boolean(), loader: SignedLoader.optional() }).meta({ description: 'the site default for MACs not listed' }),
    machines: z.array(SnapshotMachine).meta({ description: 'sorted by MAC' }),
    next: z
      .string()
      .optional()
      .meta({ description: 'present on the first page of a snapshot too large for one answer: fetch `GET /v1/relay/sync/page?version=&cursor=<next>` until `next` is null' }),
  })
  .meta({ id: 'RelaySnapshot' });
export type RelaySnapshot = z.infer<typeof RelaySnapshot>;

/** What the version hashes (shared/sync/snapshot-version.ts): the snapshot without `version` and `next`. */
export type RelaySnapshotContent = Pick<RelaySnapshot, 'siteId' | 'unknownMachines' | 'machines'>;

/**
 * The changes from the relay's snapshot (`base`, the version its If-None-Match named) to `version`:
 * drop the MACs in `remove`, then put each `upsert` entry in place of the one with its MAC. The relay
 * recomputes the version of the result and asks for the full snapshot when it differs.
 */
export const RelaySnapshotDelta = z
  .object({
    version: z.string().meta({ description: 'the version the delta leads to; also the strong ETag' }),
    base: z.string().meta({ description: 'the version the delta applies to' }),
    siteId: z.string(),
    unknownMachines: RelaySnapshot.shape.unknownMachines,
    upsert: z.array(SnapshotMachine).meta({ description: 'new or changed machines, sorted by MAC' }),
    remove: z.array(z.string()).meta({ description: 'MACs no longer listed' }),
  })
  .meta({ id: 'RelaySnapshotDelta' });
export type RelaySnapshotDelta = z.infer<typeof RelaySnapshotDelta>;

/** A later page of a paged snapshot (`GET /v1/relay/sync/page`): the machines after the cursor's. */
export const RelaySnapshotPage = z
  .object({
    version: z.string(),
    machines: z.array(SnapshotMachine).meta({ description: 'the next machines, sorted by MAC' }),
    next: z.string().nullable().meta({ description: 'cursor of the following page; null on the last one' }),
  })
  .meta({ id: 'RelaySnapshotPage' });
export type RelaySnapshotPage = z.infer<typeof RelaySnapshotPage>;

/** Where the relay fetches the shim and GRUB images its snapshot names (signed `/v1/files` paths, short-lived). */
export const RelayLoaderFiles = z
  .object({
    files: z.array(z.object({ imageId: z.string(), path: z.string(), sha256: z.string(), size: z.number().int() })),
  })
  .meta({ id: 'RelayLoaderFiles' });
export type RelayLoaderFiles = z.infer<typeof RelayLoaderFiles>;
