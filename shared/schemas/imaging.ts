import { z } from 'zod';

/**
 * The imager's job (issue E): the imager sends the disks it sees, the cloud picks the target (so
 * the rule lives in one tested place, shared/boot/target-disk.ts) and answers with everything the
 * imager needs to write and verify the image.
 */

export const DiskInfo = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'a block device name such as vda or nvme0n1'),
    path: z.string().regex(/^\/dev\/[A-Za-z0-9][A-Za-z0-9/_.:-]{0,120}$/, 'a device path'),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ description: 'bytes' }),
    removable: z.boolean().default(false),
    serial: z.string().max(128).optional(),
    model: z.string().max(128).optional(),
    rotational: z.boolean().optional(),
  })
  .meta({ id: 'DiskInfo' });
export type DiskInfo = z.infer<typeof DiskInfo>;

export const ImagingJobRequest = z.strictObject({ disks: z.array(DiskInfo).max(64) }).meta({ id: 'ImagingJobRequest' });

/** How the image is stored; the imager decompresses while writing. */
export const DiskFormat = z.enum(['raw', 'raw.gz', 'raw.zst']);
export type DiskFormat = z.infer<typeof DiskFormat>;
export const DISK_FORMATS = { 'disk-raw': 'raw', 'disk-gz': 'raw.gz', 'disk-zst': 'raw.zst' } as const satisfies Record<string, DiskFormat>;

export const ImagingJob = z
  .object({
    bootId: z.string(),
    machineId: z.string(),
    mac: z.string(),
    target: z.object({ name: z.string(), path: z.string(), size: z.number().int() }),
    image: z.object({
      id: z.string(),
      name: z.string(),
      url: z.string().meta({ description: 'signed; through the relay cache when the machine booted through a relay' }),
      format: DiskFormat,
      sha256: z.string().meta({ description: 'of the file as stored (compressed for raw.gz and raw.zst)' }),
      size: z.number().int().meta({ description: 'bytes of the file as stored' }),
    }),
    verify: z.enum(['stream', 'readback']),
    onSuccess: z.enum(['reboot', 'poweroff']),
    onFailure: z.enum(['poweroff', 'shell']),
    progressIntervalSeconds: z.number().int(),
  })
  .meta({ id: 'ImagingJob' });
export type ImagingJob = z.infer<typeof ImagingJob>;

