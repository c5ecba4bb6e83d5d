import { describe, expect, it } from 'vitest';
import { hardwareLabels, labelSlug, vendorLabel, withHardwareLabels, type HardwareFacts } from '../../shared/boot/hardware-labels.ts';
import { selectAssignment, type Selectable } from '../../shared/boot/select.ts';
import { LabelKey, LabelValue } from '../../shared/schemas/common.ts';
import { InventoryReport } from '../../shared/schemas/machine.ts';

const GiB = 1024 ** 3;

const facts = (over: Partial<HardwareFacts> = {}): HardwareFacts => ({
  cpu: { count: 16 },
  memoryBytes: 64 * GiB,
  disks: [{ removable: false }, { removable: false }, { removable: true }],
  firmware: { mode: 'uefi', secureBoot: true, vendor: 'Dell Inc.', product: 'PowerEdge R640' },
  ...over,
});

describe('hardwareLabels', () => {
  it('derives cpus, memory in GiB, fixed disks, firmware, Secure Boot, vendor and product', () => {
    expect(hardwareLabels(facts())).toEqual({
      'hw.cpus': '16',
      'hw.memory-gib': '64',
      'hw.disks': '2',
      'hw.firmware': 'uefi',
      'hw.secure-boot': 'on',
      'hw.vendor': 'dell',
      'hw.product': 'poweredge-r640',
    });
  });

  it('rounds memory to the nearest GiB: a 512 MiB VM is 0, 62.6 GiB of MemTotal is 63', () => {
    expect(hardwareLabels(facts({ memoryBytes: 536_805_376 }))['hw.memory-gib']).toBe('0');
    expect(hardwareLabels(facts({ memoryBytes: 67_213_000_000 }))['hw.memory-gib']).toBe('63');
    expect(hardwareLabels(facts({ memoryBytes: 1.4 * GiB }))['hw.memory-gib']).toBe('1');
  });

  it('leaves out Secure Boot when not known, vendor and product when they slug to nothing', () => {
    const l = hardwareLabels(facts({ firmware: { mode: 'bios', secureBoot: null, vendor: '  ', product: '***' } }));
    expect(l).toEqual({ 'hw.cpus': '16', 'hw.memory-gib': '64', 'hw.disks': '2', 'hw.firmware': 'bios' });
    expect(hardwareLabels(facts({ firmware: { mode: 'uefi', secureBoot: false } }))['hw.secure-boot']).toBe('off');
  });

  it('shortens the vendor strings firmware writes to one word per maker', () => {
    expect(['Dell Inc.', 'Dell Computer Corporation', 'HPE', 'Hewlett Packard Enterprise', 'HP', 'Hewlett-Packard', 'Supermicro', 'Super Micro Computer, Inc.', 'LENOVO', 'QEMU', 'ASUSTeK COMPUTER INC.'].map(vendorLabel)).toEqual([
      'dell',
      'dell',
      'hpe',
      'hpe',
      'hp',
      'hp',
      'supermicro',
      'supermicro',
      'lenovo',
      'qemu',
      'asus',
    ]);
    expect(vendorLabel('Ampere Computing LLC')).toBe('ampere-computing-llc');
  });

  it('gives keys and values that the label schema accepts, even from hostile DMI strings', () => {
    const l = hardwareLabels(facts({ firmware: { mode: 'uefi', secureBoot: true, vendor: '"; DROP TABLE machines; --', product: `${'Very Long Product Name '.repeat(10)}!` } }));
    for (const [k, v] of Object.entries(l)) {
      expect(LabelKey.safeParse(k).success, k).toBe(true);
      expect(LabelValue.safeParse(v).success, `${k}=${v}`).toBe(true);
    }
    expect(l['hw.vendor']).toBe('drop-table-machines');
    expect(l['hw.product']!.length).toBeLessThanOrEqual(63);
    expect(l['hw.product']!.endsWith('-')).toBe(false);
    expect(labelSlug('--A__b--')).toBe('a-b');
  });
});

describe('assignment selectors and derived labels', () => {
  const machine = (people: Record<string, string>) => ({
    id: 'mch_1',
    mac: '52:54:00:00:00:01',
    siteId: 'site_1',
    arch: 'uefi-x64',
    labels: withHardwareLabels(people, hardwareLabels(facts())),
  });
  const bigDell: Selectable & { name: string } = { id: 'asg_big', name: 'big', selector: { labels: { 'hw.memory-gib': '64', 'hw.vendor': 'dell' } }, priority: 0, createdAt: '2026-01-01T00:00:00Z' };
  const secureOnly: Selectable & { name: string } = { id: 'asg_sb', name: 'sb', selector: { labels: { 'hw.secure-boot': 'on' } }, priority: 0, createdAt: '2026-01-01T00:00:00Z' };

  it('selects by a derived label, the most specific selector winning as with people\'s labels', () => {
    const s = selectAssignment(machine({}), [secureOnly, bigDell]);
    expect(s?.assignment.id).toBe('asg_big');
    expect(s?.reason).toBe('assigned via labels hw.memory-gib=64, hw.vendor=dell');
  });

  it('lets a person\'s label of the same key win over the derived one', () => {
    const s = selectAssignment(machine({ 'hw.vendor': 'refurb' }), [bigDell, secureOnly]);
    expect(s?.assignment.id).toBe('asg_sb');
    expect(withHardwareLabels({ 'hw.vendor': 'refurb', rack: 'r1' }, { 'hw.vendor': 'dell', 'hw.cpus': '4' })).toEqual({ 'hw.vendor': 'refurb', rack: 'r1', 'hw.cpus': '4' });
  });

  it('matches nothing by hardware for a machine that never reported', () => {
    expect(selectAssignment({ ...machine({}), labels: withHardwareLabels({}, {}) }, [bigDell, secureOnly])).toBeNull();
  });
});

describe('InventoryReport limits', () => {
  const ok = {
    cpu: { count: 2 },
    memoryBytes: GiB,
    disks: [{ name: 'vda', sizeBytes: 8 * GiB }],
    nics: [{ name: 'eth0', mac: '52:54:00:12:34:56' }],
    firmware: { mode: 'bios', secureBoot: null },
  };
  it('takes a minimal report', () => {
    expect(InventoryReport.safeParse(ok).success).toBe(true);
  });
  it.each([
    ['a negative disk size', { ...ok, disks: [{ name: 'vda', sizeBytes: -1 }] }],
    ['10,000 disks', { ...ok, disks: Array.from({ length: 10_000 }, (_, i) => ({ name: `d${i}`, sizeBytes: 1 })) }],
    ['65 NICs', { ...ok, nics: Array.from({ length: 65 }, (_, i) => ({ name: `e${i}`, mac: `52:54:00:00:00:${(i % 256).toString(16).padStart(2, '0')}` })) }],
    ['a 1 MB model string', { ...ok, cpu: { count: 2, model: 'x'.repeat(1_000_000) } }],
    ['a control character in a serial', { ...ok, firmware: { mode: 'bios', secureBoot: null, serial: 'a\u0000b' } }],
    ['zero memory', { ...ok, memoryBytes: 0 }],
    ['a fractional CPU count', { ...ok, cpu: { count: 1.5 } }],
    ['an unknown field', { ...ok, gpu: 'yes' }],
  ])('refuses %s', (_name, report) => {
    expect(InventoryReport.safeParse(report).success).toBe(false);
  });
});
