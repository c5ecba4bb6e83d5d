import { z } from 'zod';
import { Name, Timestamp } from './common.ts';

export const ImageKind = z.enum(['kernel', 'initrd', 'iso', 'disk-raw', 'disk-gz', 'disk-zst', 'disk-qcow2', 'wim', 'efi', 'file']);
/** pending: no bytes yet; uploading: a multipart upload is open; ready: bytes stored, size and sha256 known. */
export const ImageStatus = z.enum(['pending', 'uploading', 'ready']);

/**
 * The machines an image is for: x86-64 (BIOS and UEFI x64 machines), arm64 (UEFI arm64), or any
 * (initrds, disk images, files whose bytes say nothing).
 */
export const ImageArch = z.enum(['x86-64', 'arm64', 'any']);
export type ImageArch = z.infer<typeof ImageArch>;

/** What the first bytes of an image say (shared/boot/binary-info.ts), recorded when its content is stored. */
export const ImageBinary = z
  .object({
    format: z.enum(['pe', 'elf', 'linux-bzimage', 'linux-arm64-image', 'unknown']),
    cpu: z.enum(['x86-64', 'x86', 'arm64', 'arm', 'riscv64', 'other']).nullable(),
    machine: z.number().int().nullable().meta({ description: 'PE Machine or ELF e_machine' }),
    subsystem: z.number().int().nullable().meta({ description: 'PE Subsystem: 10 = EFI application' }),
    signature: z.object({ offset: z.number().int(), size: z.number().int() }).nullable().meta({ description: 'the PE certificate table (Authenticode), null when absent' }),
    linux: z.enum(['bzimage', 'arm64-image']).nullable(),
    note: z.string().optional(),
  })
  .meta({ id: 'ImageBinary' });

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits').meta({ description: 'SHA-256, lower-case hex' });

export const Image = z
  .object({
    id: z.string(),
    name: Name,
    kind: ImageKind,
    contentType: z.string(),
    status: ImageStatus,
    size: z.number().int().nullable(),
    sha256: Sha256Hex.nullable(),
    arch: ImageArch.meta({ description: "the content's CPU when its bytes say it (kernels, EFI binaries); otherwise as set (default any)" }),
    binary: ImageBinary.nullable().meta({ description: 'what the first bytes say; null until the content is stored (or for images stored before this was recorded)' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Image' });
export type Image = z.infer<typeof Image>;

export const ContentType = z.string().max(128).regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, 'a MIME type such as application/octet-stream');

export const ImageCreate = z
  .strictObject({
    name: Name,
    kind: ImageKind.default('file'),
    contentType: ContentType.default('application/octet-stream'),
    arch: ImageArch.optional().meta({ description: 'default: what the content says once uploaded, else any' }),
  })
  .meta({ id: 'ImageCreate' });

export const ImagePatch = z
  .strictObject({
    name: Name.optional(),
    arch: ImageArch.optional().meta({ description: 'refused when it contradicts the CPU the content was built for' }),
  })
  .meta({ id: 'ImagePatch' });

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** R2 and S3: parts of 5 MiB to 5 GiB, all but the last of one size, at most 10,000 of them. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 64 * MiB;
/** S3's largest object. */
export const MAX_IMAGE_SIZE = 5 * 1024 * GiB;

export const ImageUploadCreate = z
  .strictObject({
    size: z.number().int().min(1).max(MAX_IMAGE_SIZE).meta({ description: 'the whole image, in bytes' }),
    partSize: z.number().int().min(MIN_PART_SIZE).max(MAX_PART_SIZE).default(DEFAULT_PART_SIZE).meta({ description: 'bytes per part; the last part holds the rest' }),
    expectedSha256: Sha256Hex.optional().meta({ description: 'checked when the upload completes' }),
  })
  .refine((u) => Math.ceil(u.size / u.partSize) <= MAX_PARTS, { message: `at most ${MAX_PARTS} parts: raise partSize`, path: ['partSize'] })
  .meta({ id: 'ImageUploadCreate' });

export const ImageUpload = z
  .object({
    id: z.string(),
    imageId: z.string(),
    size: z.number().int(),
    partSize: z.number().int(),
    partCount: z.number().int(),
    expectedSha256: Sha256Hex.nullable(),
    /** Parts go up in order, so the done parts are always 1…partsDone. */
    partsDone: z.number().int().meta({ description: 'parts 1…partsDone are stored; send part partsDone+1 next (or re-send partsDone)' }),
    bytesDone: z.number().int(),
    nextPart: z.number().int().nullable().meta({ description: 'the part to send next; null when all are stored and the upload can complete' }),
    createdAt: Timestamp,
    expiresAt: Timestamp,
  })
  .meta({ id: 'ImageUpload' });
export type ImageUpload = z.infer<typeof ImageUpload>;
