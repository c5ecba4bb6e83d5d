import { z } from 'zod';
import { Description, Name, Timestamp } from './common.ts';

export const Site = z
  .object({
    id: z.string(),
    name: Name,
    description: Description,
    defaultProfileId: z.string().nullable().meta({ description: 'what unknown machines boot; null = their local disk' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Site' });
export type Site = z.infer<typeof Site>;

export const SiteCreate = z
  .strictObject({
    name: Name,
    description: Description.optional(),
    defaultProfileId: z.string().max(64).nullable().optional(),
  })
  .meta({ id: 'SiteCreate' });

export const SitePatch = SiteCreate.partial().meta({ id: 'SitePatch' });
