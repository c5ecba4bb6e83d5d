import { z } from 'zod';
import { Arch, Hostname, Labels, Mac, Serial, SmbiosUuid, Timestamp } from './common.ts';

export const MachineState = z.enum(['discovered', 'ready', 'provisioning', 'deployed', 'failed']);
export type MachineState = z.infer<typeof MachineState>;

/**
 * Hardware inventory (issue 17), as the imager reads it from /sys and /proc on the machine
 * (imager/rootfs/edgeboot-inventory). Every list and string is bounded: a report is one callback
 * body (the relay and the cloud take at most 64 KiB), and absurd values — negative sizes, thousands
 * of disks, megabyte strings — are refused with the error envelope rather than stored.
 */
export const INVENTORY_LIMITS = { disks: 64, nics: 64, text: 128, cpus: 16_384 } as const;

/** DMI and device strings: printable, trimmed by the imager, bounded here. */
const HwText = z
  .string()
  .min(1)
  .max(INVENTORY_LIMITS.text)
  .regex(/^[\x20-\x7e]+$/, 'printable ASCII');
const Bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ description: 'bytes' });

export const InventoryDisk = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'a block device name such as sda or nvme0n1'),
    sizeBytes: Bytes,
    model: HwText.optional(),
    serial: HwText.optional(),
    rotational: z.boolean().optional().meta({ description: 'true: a spinning disk (queue/rotational)' }),
    removable: z.boolean().optional(),
  })
  .meta({ id: 'InventoryDisk' });

export const InventoryNic = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,31}$/, 'an interface name such as eth0 or enp1s0'),
    mac: Mac,
    driver: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'a kernel driver name').optional(),
    speedMbps: z.number().int().min(0).max(10_000_000).optional().meta({ description: 'link speed; absent when the link is down or the driver does not say' }),
  })
  .meta({ id: 'InventoryNic' });

export const InventoryFirmware = z
  .strictObject({
    mode: z.enum(['bios', 'uefi']).meta({ description: 'uefi when the kernel was started by UEFI (/sys/firmware/efi exists)' }),
    secureBoot: z.boolean().nullable().meta({ description: 'the SecureBoot EFI variable: true on, false off, null not known (BIOS, or no efivars)' }),
    vendor: HwText.optional().meta({ description: 'DMI sys_vendor' }),
    product: HwText.optional().meta({ description: 'DMI product_name' }),
    serial: HwText.optional().meta({ description: 'DMI product_serial' }),
    biosVendor: HwText.optional(),
    biosVersion: HwText.optional(),
  })
  .meta({ id: 'InventoryFirmware' });

export const InventoryReport = z
  .strictObject({
    cpu: z.strictObject({
      model: HwText.optional(),
      count: z.number().int().min(1).max(INVENTORY_LIMITS.cpus).meta({ description: 'logical CPUs' }),
      arch: z.string().min(1).max(32).regex(/^[a-z0-9_]+$/, 'a machine name as uname -m prints it').optional(),
    }),
    memoryBytes: Bytes.min(1).meta({ description: 'installed memory: the kernel memory blocks present, else MemTotal' }),
    memoryUsableBytes: Bytes.optional().meta({ description: 'MemTotal: what the kernel can use' }),
    disks: z.array(InventoryDisk).max(INVENTORY_LIMITS.disks),
    nics: z.array(InventoryNic).max(INVENTORY_LIMITS.nics),
    firmware: InventoryFirmware,
  })
  .meta({ id: 'InventoryReport' });
export type InventoryReport = z.infer<typeof InventoryReport>;

/** As stored and returned: MACs are already canonical (the report's transform ran on the way in). */
export const Inventory = InventoryReport.extend({
  nics: z.array(InventoryNic.extend({ mac: z.string().meta({ description: 'canonical lower-case colon form' }) }).meta({ id: 'InventoryNicStored' })).max(INVENTORY_LIMITS.nics),
  reportedAt: Timestamp,
}).meta({ id: 'Inventory' });
export type Inventory = z.infer<typeof Inventory>;

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
    // Optional only for clients of a cloud older than migration 0010; this cloud always sends it.
    inventory: Inventory.nullable().optional().meta({ description: 'the hardware last reported by the imager; null until one reported' }),
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
