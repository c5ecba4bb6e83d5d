import { z } from 'zod';
import { Description, Name, Timestamp } from './common.ts';
import { ImageArch } from './image.ts';

const ImageRef = z.string().max(64).meta({ description: 'image id' });
/** Templates are rendered for each machine (issue B); the size cap keeps scripts small. */
const Template = z.string().max(16_384);

/** Text shown in iPXE menus: plain characters only, so nothing in it can be read as script (see ipxe-script.ts). */
const MenuText = z.string().regex(/^[A-Za-z0-9 ._:+@()\/,-]*$/, 'letters, digits, space and . _ : + @ ( ) / , - only');

/**
 * Answer files for installers (Debian preseed, Ubuntu autoinstall, kickstart, cloud-init, Windows
 * unattend): templates rendered per machine and served with the boot's callback token at
 * `{{filesUrl}}/<name>`. Names are plain file names so they can be appended to a URL as they are.
 */
export const AnswerFile = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a plain file name: letters, digits, . _ - (up to 64)'),
  template: z.string().max(32 * 1024),
});
const AnswerFiles = z.array(AnswerFile).max(8).refine((files) => new Set(files.map((f) => f.name)).size === files.length, 'file names must be unique');

/**
 * The signed chain for UEFI x64 machines (Secure Boot on or off): the firmware loads `shim`
 * (Microsoft-signed), shim loads `grub` (the distribution's signed network GRUB, e.g. Debian's
 * grubnetx64.efi.signed) from the relay over TFTP, and GRUB loads the kernel over HTTP from the relay,
 * after shim has checked its signature with the distribution's key. Both are images of the catalog,
 * per distribution (Debian's shim trusts Debian's kernels, not Ubuntu's). Both or neither: without
 * them the profile boots through iPXE (which Secure Boot firmware refuses).
 */
const SignedChain = {
  shim: ImageRef.optional().meta({ description: "UEFI x64 machines boot through this shim (e.g. Debian's shimx64.efi.signed), then `grub`" }),
  grub: ImageRef.optional().meta({ description: "the distribution's signed network GRUB that `shim` loads (e.g. grubnetx64.efi.signed)" }),
};

/**
 * The machines a profile is for. Left out, the cloud fills it in at save time from the kernel image's
 * arch (linux, imaging); wimboot is x86-64 only; anything else without it is for any machine.
 * decideBoot hands a machine only a profile of its own architecture (or `any`).
 */
export const ProfileArch = ImageArch.meta({ description: 'x86-64 (BIOS, UEFI x64), arm64 (UEFI arm64) or any; default: from the kernel image' });
export type ProfileArch = z.infer<typeof ProfileArch>;
const ArchField = { arch: ProfileArch.optional() };

export const LinuxSpec = z.strictObject({
  kind: z.literal('linux'),
  ...ArchField,
  ...SignedChain,
  kernel: ImageRef,
  initrds: z.array(ImageRef).max(8).default([]),
  cmdline: Template.max(4096).regex(/^[^\r\n]*$/, 'one line').default(''),
  files: AnswerFiles.optional(),
});
export const IpxeSpec = z.strictObject({ kind: z.literal('ipxe'), ...ArchField, script: Template });
export const LocalSpec = z.strictObject({ kind: z.literal('local') });
export const MenuSpec = z.strictObject({
  kind: z.literal('menu'),
  ...ArchField,
  ...SignedChain,
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
/** wimboot injects every initrd by name into X:\Windows\System32 of the booted WinPE: `files` are how winpeshl.ini, startnet.cmd or unattend.xml get there. */
export const WimbootSpec = z.strictObject({
  kind: z.literal('wimboot'),
  arch: z.literal('x86-64').optional().meta({ description: 'wimboot and Windows PE here are x86-64 only' }),
  wimboot: ImageRef,
  bcd: ImageRef,
  bootSdi: ImageRef,
  bootWim: ImageRef,
  files: AnswerFiles.optional(),
});

/** Which disk the imager writes. Every given criterion must match; none given = the single non-removable disk. */
export const TargetDisk = z
  .strictObject({
    path: z
      .string()
      .regex(/^\/dev\/[A-Za-z0-9][A-Za-z0-9/_.:-]{0,120}$/, 'a device path such as /dev/nvme0n1')
      .optional(),
    serial: z.string().min(1).max(128).optional(),
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description: 'exact size in bytes' }),
  })
  .meta({ id: 'TargetDisk' });
export type TargetDisk = z.infer<typeof TargetDisk>;

/**
 * Write a base image to the machine's disk: iPXE boots the edgeboot imager (its kernel and
 * initramfs are images too, built by `npm run build:imager`), which asks for its job with the
 * boot's callback token, streams `diskImage` to the target disk, verifies it and hands the machine
 * over to its disk.
 */
export const ImagingSpec = z.strictObject({
  kind: z.literal('imaging'),
  ...ArchField,
  ...SignedChain,
  kernel: ImageRef.meta({ description: 'the imager kernel' }),
  initrds: z.array(ImageRef).min(1).max(8).meta({ description: "the imager's initramfs" }),
  diskImage: ImageRef.meta({ description: 'an image of kind disk-raw, disk-gz or disk-zst' }),
  targetDisk: TargetDisk.optional(),
  cmdline: Template.max(1024).regex(/^[^\r\n]*$/, 'one line').default('').meta({ description: 'extra kernel arguments, e.g. console=ttyS0' }),
  verify: z.enum(['stream', 'readback']).default('readback').meta({
    description: "stream: the sha256 of the downloaded file must match the image's; readback: also read back what was written and compare",
  }),
  onSuccess: z.enum(['reboot', 'poweroff']).default('reboot'),
  onFailure: z.enum(['poweroff', 'shell']).default('poweroff').meta({ description: 'never reboot into a half-written disk: power off, or stay in the imager with a shell' }),
});

export const ProfileSpec = z
  .discriminatedUnion('kind', [LinuxSpec, IpxeSpec, LocalSpec, MenuSpec, WimbootSpec, ImagingSpec])
  .meta({ id: 'ProfileSpec' });
export type ProfileSpec = z.infer<typeof ProfileSpec>;
export type ProfileKind = ProfileSpec['kind'];

/** The shim and GRUB a profile boots UEFI x64 machines through, or null for the iPXE path. */
export function signedChainOf(spec: ProfileSpec): { shim: string; grub: string } | null {
  if ((spec.kind === 'linux' || spec.kind === 'imaging' || spec.kind === 'menu') && spec.shim && spec.grub) return { shim: spec.shim, grub: spec.grub };
  return null;
}

/** The machines a spec boots: its `arch`, else x86-64 for wimboot, else any. */
export function archOfSpec(spec: ProfileSpec): ProfileArch {
  if (spec.kind === 'local') return 'any';
  return spec.arch ?? (spec.kind === 'wimboot' ? 'x86-64' : 'any');
}

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
