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

export const SnapshotMachine = z.object({
  mac: z.string(),
  machineId: z.string().nullable().meta({ description: 'null for a MAC that is assigned but has not booted yet' }),
  arch: Arch.nullable(),
  netboot: Netboot,
});
export type SnapshotMachine = z.infer<typeof SnapshotMachine>;

export const RelaySnapshot = z
  .object({
    version: z.string().meta({ description: 'hash of the content; also the strong ETag' }),
    siteId: z.string(),
    unknownMachines: z.object({ netboot: z.boolean() }).meta({ description: 'the site default for MACs not listed' }),
    machines: z.array(SnapshotMachine).meta({ description: 'sorted by MAC' }),
  })
  .meta({ id: 'RelaySnapshot' });
export type RelaySnapshot = z.infer<typeof RelaySnapshot>;
