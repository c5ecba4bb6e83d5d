/**
 * Labels derived from a machine's hardware inventory, so that assignment selectors (which match
 * labels, shared/boot/select.ts) can say "machines with 64 GiB" or "Dell machines with Secure Boot
 * on" without anyone typing those facts in. Pure: the cloud computes them when the imager reports
 * (and stores them beside the report), and the boot decision merges them under people's labels.
 *
 * All derived keys live under `hw.`; a label a person set under the same key wins
 * (`withHardwareLabels`), so derived labels never overwrite people's. Documented in
 * docs/inventory.md; the values keep to LabelValue's characters.
 *
 *   hw.cpus=16            logical CPUs
 *   hw.memory-gib=64      installed memory, rounded to the nearest GiB
 *   hw.disks=2            disks that are not removable
 *   hw.firmware=uefi      uefi | bios: how the imager's kernel was started
 *   hw.secure-boot=on     on | off; absent when not known
 *   hw.vendor=dell        DMI sys_vendor, shortened (see VENDOR_ALIASES) and slugged
 *   hw.product=poweredge-r640   DMI product_name, slugged
 */

/** The inventory facts the labels come from (a subset of shared/schemas/machine.ts InventoryReport). */
export interface HardwareFacts {
  cpu: { count: number };
  memoryBytes: number;
  disks: ReadonlyArray<{ removable?: boolean }>;
  firmware: { mode: 'bios' | 'uefi'; secureBoot: boolean | null; vendor?: string; product?: string };
}

export const HW_LABEL_PREFIX = 'hw.';

const GIB = 1024 ** 3;

/**
 * DMI vendor strings vary by model year and firmware ("Dell Inc.", "Dell Computer Corporation");
 * selectors want one short word. Matched on the slug's start; anything else keeps its slug.
 */
const VENDOR_ALIASES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^dell\b/, 'dell'],
  [/^(hpe\b|hewlett-packard-enterprise)/, 'hpe'],
  [/^(hp\b|hewlett-packard)/, 'hp'],
  [/^(supermicro|super-micro)/, 'supermicro'],
  [/^lenovo\b/, 'lenovo'],
  [/^ibm\b/, 'ibm'],
  [/^cisco\b/, 'cisco'],
  [/^fujitsu\b/, 'fujitsu'],
  [/^gigabyte\b/, 'gigabyte'],
  [/^(asustek|asus)\b/, 'asus'],
  [/^intel\b/, 'intel'],
  [/^qemu\b/, 'qemu'],
  [/^raspberry-pi\b/, 'raspberry-pi'],
];

/** Lower case, runs of anything but letters and digits as one '-', at most 63 characters (LabelValue). */
export function labelSlug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

export function vendorLabel(vendor: string): string {
  const slug = labelSlug(vendor);
  for (const [re, name] of VENDOR_ALIASES) if (re.test(slug)) return name;
  return slug;
}

/** The `hw.*` labels of one inventory report. Strings that slug to nothing give no label. */
export function hardwareLabels(inv: HardwareFacts): Record<string, string> {
  const out: Record<string, string> = {
    'hw.cpus': String(inv.cpu.count),
    'hw.memory-gib': String(Math.round(inv.memoryBytes / GIB)),
    'hw.disks': String(inv.disks.filter((d) => d.removable !== true).length),
    'hw.firmware': inv.firmware.mode,
  };
  if (inv.firmware.secureBoot !== null) out['hw.secure-boot'] = inv.firmware.secureBoot ? 'on' : 'off';
  const vendor = inv.firmware.vendor === undefined ? '' : vendorLabel(inv.firmware.vendor);
  if (vendor !== '') out['hw.vendor'] = vendor;
  const product = inv.firmware.product === undefined ? '' : labelSlug(inv.firmware.product);
  if (product !== '') out['hw.product'] = product;
  return out;
}

/** The labels selectors see: derived ones first, people's over them (a person's label always wins). */
export function withHardwareLabels(people: Readonly<Record<string, string>>, hardware: Readonly<Record<string, string>>): Record<string, string> {
  return { ...hardware, ...people };
}
