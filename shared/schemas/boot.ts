import { z } from 'zod';
import { Arch } from './common.ts';

/** What a machine would boot now, and why (GET /v1/machines/{idOrMac}/explain). */
export const BootExplanation = z
  .object({
    action: z.enum(['boot', 'menu', 'local', 'ignore']),
    reason: z.string().meta({ description: 'for people: "assigned via label rack=r12: debian-12", "one-shot consumed (…)"' }),
    arch: Arch.nullable().meta({ description: 'the architecture decided for; null when the decision is ignore' }),
    profile: z.object({ id: z.string(), name: z.string() }).nullable(),
    assignmentId: z.string().nullable(),
    once: z.boolean().meta({ description: 'a one-shot boot: after success the machine boots its local disk' }),
    loader: z
      .enum(['ipxe', 'shim'])
      .nullable()
      .meta({ description: "what the firmware is handed first: shim (the profile's signed shim → GRUB chain, UEFI x64) or iPXE; null when nothing netboots" }),
  })
  .meta({ id: 'BootExplanation' });
export type BootExplanation = z.infer<typeof BootExplanation>;
