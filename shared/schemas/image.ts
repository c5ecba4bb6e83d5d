import { z } from 'zod';
import { Name, Timestamp } from './common.ts';

export const ImageKind = z.enum(['kernel', 'initrd', 'iso', 'disk-raw', 'disk-gz', 'disk-zst', 'disk-qcow2', 'wim', 'efi', 'file']);
export const ImageStatus = z.enum(['pending', 'uploading', 'ready']);

export const Image = z
  .object({
    id: z.string(),
    name: Name,
    kind: ImageKind,
    contentType: z.string(),
    status: ImageStatus,
    size: z.number().int().nullable(),
    sha256: z.string().nullable(),
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
  })
  .meta({ id: 'ImageCreate' });
