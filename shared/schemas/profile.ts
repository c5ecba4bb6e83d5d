import { z } from 'zod';
import { Description, Name, Timestamp } from './common.ts';

const ImageRef = z.string().max(64).meta({ description: 'image id' });
/** Templates are rendered for each machine (issue B); the size cap keeps scripts small. */
const Template = z.string().max(16_384);

/** Text shown in iPXE menus: plain characters only, so nothing in it can be read as script (see ipxe-script.ts). */
const MenuText = z.string().regex(/^[A-Za-z0-9 ._:+@()\/,-]*$/, 'letters, digits, space and . _ : + @ ( ) / , - only');

export const LinuxSpec = z.strictObject({
  kind: z.literal('linux'),
  kernel: ImageRef,
  initrds: z.array(ImageRef).max(8).default([]),
  cmdline: Template.max(4096).regex(/^[^\r\n]*$/, 'one line').default(''),
});
export const IpxeSpec = z.strictObject({ kind: z.literal('ipxe'), script: Template });
export const LocalSpec = z.strictObject({ kind: z.literal('local') });
export const MenuSpec = z.strictObject({
  kind: z.literal('menu'),
  title: MenuText.max(80).default('edgeboot'),
  timeoutSeconds: z.number().int().min(0).max(3600).default(10),
  items: z
    .array(
      z.strictObject({
        label: MenuText.min(1).max(60),
        profileId: z.string().max(64),
      }),
    )
    .max(32)
    .default([]),
  defaultItem: z.number().int().min(0).max(31).nullable().default(null).meta({ description: 'index into items; null = local disk' }),
});
export const WimbootSpec = z.strictObject({
  kind: z.literal('wimboot'),
  wimboot: ImageRef,
  bcd: ImageRef,
  bootSdi: ImageRef,
  bootWim: ImageRef,
});
/** Filled in by issue E (imaging); kept minimal so assignments can already point at it. */
export const ImagingSpec = z.strictObject({
  kind: z.literal('imaging'),
  diskImage: ImageRef,
  targetDisk: z.string().max(256).optional(),
});

export const ProfileSpec = z
  .discriminatedUnion('kind', [LinuxSpec, IpxeSpec, LocalSpec, MenuSpec, WimbootSpec, ImagingSpec])
  .meta({ id: 'ProfileSpec' });
export type ProfileSpec = z.infer<typeof ProfileSpec>;
export type ProfileKind = ProfileSpec['kind'];

export const Profile = z
  .object({
    id: z.string(),
    name: Name,
    description: Description,
    spec: ProfileSpec,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Profile' });
export type Profile = z.infer<typeof Profile>;

export const ProfileCreate = z.strictObject({ name: Name, description: Description.optional(), spec: ProfileSpec }).meta({ id: 'ProfileCreate' });
export const ProfilePatch = ProfileCreate.partial().meta({ id: 'ProfilePatch' });
