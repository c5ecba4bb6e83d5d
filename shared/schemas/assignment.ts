import { z } from 'zod';
import { Arch, Labels, Mac, Timestamp } from './common.ts';

/**
 * What an assignment applies to. Every field present must match; at least one must be given.
 * Specificity (machine/MAC > labels > site > arch) decides between matches: see shared/boot/select.ts.
 */
export const Selector = z
  .strictObject({
    machineId: z.string().max(64).optional(),
    mac: Mac.optional(),
    siteId: z.string().max(64).optional(),
    labels: Labels.optional(),
    arch: Arch.optional(),
  })
  .refine((s) => Object.values(s).some((v) => v !== undefined), 'a selector needs at least one of machineId, mac, siteId, labels, arch')
  .meta({ id: 'Selector' });
export type Selector = z.infer<typeof Selector>;

export const Assignment = z
  .object({
    id: z.string(),
    profileId: z.string(),
    selector: z.object({
      machineId: z.string().optional(),
      mac: z.string().optional(),
      siteId: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      arch: Arch.optional(),
    }),
    once: z.boolean(),
    priority: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Assignment' });
export type Assignment = z.infer<typeof Assignment>;

export const AssignmentCreate = z
  .strictObject({
    profileId: z.string().max(64),
    selector: Selector,
    once: z.boolean().default(false).meta({ description: 'boot the profile until the machine reports success, then its local disk' }),
    priority: z.number().int().min(-1000).max(1000).default(0).meta({ description: 'breaks ties between equally specific matches; higher wins' }),
    replace: z
      .boolean()
      .default(false)
      .meta({
        description:
          "the selector names one machine (machineId or mac): delete every assignment that names that machine, in the same transaction, so it has this one alone; the deleted ones come back in `replaced`",
      }),
  })
  .meta({ id: 'AssignmentCreate' });

/** What POST /v1/assignments answers: the new assignment and, with `replace`, the ones it took the place of. */
export const AssignmentCreated = Assignment.extend({
  replaced: z.array(Assignment).optional().meta({ description: 'with replace: true, the assignments deleted (empty when there were none)' }),
}).meta({ id: 'AssignmentCreated' });
export type AssignmentCreated = z.infer<typeof AssignmentCreated>;
export const AssignmentPatch = z
  .strictObject({ profileId: z.string().max(64), once: z.boolean(), priority: z.number().int().min(-1000).max(1000) })
  .partial()
  .meta({ id: 'AssignmentPatch' });
