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
  })
  .meta({ id: 'RelaySnapshot' });
export type RelaySnapshot = z.infer<typeof RelaySnapshot>;

/** Where the relay fetches the shim and GRUB images its snapshot names (signed `/v1/files` paths, short-lived). */
export const RelayLoaderFiles = z
  .object({
    files: z.array(z.object({ imageId: z.string(), path: z.string(), sha256: z.string(), size: z.number().int() })),
  })
  .meta({ id: 'RelayLoaderFiles' });
export type RelayLoaderFiles = z.infer<typeof RelayLoaderFiles>;
