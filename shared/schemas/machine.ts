import { z } from 'zod';
import { Arch, Hostname, Labels, Mac, Serial, SmbiosUuid, Timestamp } from './common.ts';

export const MachineState = z.enum(['discovered', 'ready', 'provisioning', 'deployed', 'failed']);
export type MachineState = z.infer<typeof MachineState>;

export const Machine = z
  .object({
    id: z.string(),
    mac: z.string().meta({ description: 'canonical lower-case colon form' }),
    siteId: z.string().nullable(),
    uuid: z.string().nullable(),
    serial: z.string().nullable(),
    hostname: z.string().nullable(),
    arch: Arch.nullable(),
    labels: z.record(z.string(), z.string()),
    secureBoot: z.boolean().nullable().meta({ description: 'Secure Boot is on in the firmware (true), off (false), or not known (null)' }),
    state: MachineState,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    lastSeenAt: Timestamp.nullable(),
  })
  .meta({ id: 'Machine' });
export type Machine = z.infer<typeof Machine>;

export const MachineCreate = z
  .strictObject({
    mac: Mac,
    siteId: z.string().max(64).nullable().optional(),
    uuid: SmbiosUuid.nullable().optional(),
    serial: Serial.nullable().optional(),
    hostname: Hostname.nullable().optional(),
    arch: Arch.nullable().optional(),
    labels: Labels.optional(),
    secureBoot: z.boolean().nullable().optional().meta({ description: 'true: UEFI x64 boots need a profile with a shim and GRUB' }),
    state: MachineState.optional(),
  })
  .meta({ id: 'MachineCreate' });

export const MachinePatch = MachineCreate.omit({ mac: true }).partial().meta({ id: 'MachinePatch' });
