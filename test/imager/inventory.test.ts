import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hardwareLabels } from '../../shared/boot/hardware-labels.ts';
import { InventoryReport } from '../../shared/schemas/machine.ts';
import { busyboxPath, cleanup, requireAgentPeers, runAgent, type AgentRun } from './support/agent-harness.ts';

/**
 * The imager's hardware collector (imager/rootfs/edgeboot-inventory), the real script under the
 * host's busybox-static with only busybox applets on its PATH. A real machine's /sys cannot be
 * arranged, so most cases read a TEST DOUBLE of /sys and /proc written here (`fakeMachine`), laid
 * out as the kernel lays them out; one case reads this machine's real /sys and /proc.
 */

const COLLECTOR = resolve(import.meta.dirname, '../../imager/rootfs/edgeboot-inventory');
const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const GiB = 1024 ** 3;

let work: string;
let binRoot: string;
let bin: string;
beforeAll(() => {
  requireAgentPeers();
  binRoot = mkdtempSync(join(tmpdir(), 'edgeboot-inventory-bin-'));
  bin = busyboxPath(join(binRoot, 'bin'));
});
afterAll(() => rmSync(binRoot, { recursive: true, force: true }));
afterEach(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the collector; its stdout must be one line of JSON. */
function collect(env: Record<string, string>): unknown {
  const out = execFileSync('/bin/busybox', ['sh', COLLECTOR], { env: { PATH: bin, ...env }, encoding: 'utf8' });
  expect(out.endsWith('}\n')).toBe(true);
  expect(out.trim().split('\n')).toHaveLength(1);
  return JSON.parse(out);
}

/** Test double of a machine's /sys and /proc: files written where the kernel puts them. */
function fakeMachine(files: Record<string, string | Buffer>, links: Record<string, string> = {}): { sys: string; proc: string } {
  work = mkdtempSync(join(tmpdir(), 'edgeboot-inventory-'));
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(work, p)), { recursive: true });
    writeFileSync(join(work, p), typeof v === 'string' ? `${v}\n` : v);
  }
  for (const [p, target] of Object.entries(links)) {
    mkdirSync(dirname(join(work, p)), { recursive: true });
    symlinkSync(target, join(work, p));
  }
  return { sys: join(work, 'sys'), proc: join(work, 'proc') };
}

const cpuinfo = (n: number, model: string) =>
  Array.from({ length: n }, (_, i) => `processor\t: ${i}\nvendor_id\t: GenuineIntel\nmodel name\t: ${model}\nflags\t\t: fpu vme\n`).join('\n');

/** A 2-disk, 2-NIC UEFI server with Secure Boot on, as a Dell R640 shows itself. */
function dellServer(over: Record<string, string | Buffer> = {}) {
  const memory: Record<string, string> = { 'sys/devices/system/memory/block_size_bytes': '80000000' };
  // 32 blocks of 2 GiB = 64 GiB installed; MemTotal is less (firmware and kernel reservations).
  for (let i = 0; i < 32; i++) memory[`sys/devices/system/memory/memory${i}/online`] = '1';
  return fakeMachine(
    {
      'proc/cpuinfo': cpuinfo(4, 'Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz'),
      'proc/meminfo': 'MemTotal:       65566468 kB\nMemFree:        64000000 kB\n',
      ...memory,
      'sys/block/sda/size': String(936_640_512),
      'sys/block/sda/removable': '0',
      'sys/block/sda/queue/rotational': '0',
      'sys/block/sda/device/model': 'PERC H730P Mini ',
      'sys/block/sda/device/wwid': 'naa.6d0946606e0d1e002a1b2c3d4e5f6a7b',
      'sys/block/nvme0n1/size': String(1_875_385_008),
      'sys/block/nvme0n1/removable': '0',
      'sys/block/nvme0n1/queue/rotational': '0',
      'sys/block/nvme0n1/device/model': 'Dell Ent NVMe P5600 MU U.2 1.6TB',
      'sys/block/nvme0n1/device/serial': '  PHAB123400AB1P6AGN  ',
      'sys/block/sdb/size': String(30_277_632),
      'sys/block/sdb/removable': '1',
      'sys/block/sdb/queue/rotational': '1',
      'sys/block/loop0/size': '2048',
      'sys/block/sr0/size': '2048',
      'sys/block/dm-0/size': '2048',
      'sys/class/net/lo/type': '772',
      'sys/class/net/lo/address': '00:00:00:00:00:00',
      'sys/class/net/eno1/type': '1',
      'sys/class/net/eno1/address': '24:6e:96:aa:bb:01',
      'sys/class/net/eno1/speed': '25000',
      'sys/class/net/eno2/type': '1',
      'sys/class/net/eno2/address': '24:6e:96:aa:bb:02',
      // A link that is down: the kernel reports -1 (or EINVAL on read).
      'sys/class/net/eno2/speed': '-1',
      'sys/class/net/br0/type': '1',
      'sys/class/net/br0/address': '24:6e:96:aa:bb:01',
      'sys/devices/pci0000:00/0000:18:00.0/vendor': '0x14e4',
      'sys/devices/pci0000:00/0000:18:00.1/vendor': '0x14e4',
      'sys/bus/pci/drivers/bnxt_en/new_id': '',
      'sys/firmware/efi/efivars/placeholder': '',
      [`sys/firmware/efi/efivars/SecureBoot-${EFI_GLOBAL}`]: Buffer.from([0x06, 0, 0, 0, 0x01]),
      'sys/class/dmi/id/sys_vendor': 'Dell Inc.',
      'sys/class/dmi/id/product_name': 'PowerEdge R640',
      'sys/class/dmi/id/product_serial': 'ABC1234',
      'sys/class/dmi/id/bios_vendor': 'Dell Inc.',
      'sys/class/dmi/id/bios_version': '2.19.1',
      ...over,
    },
    {
      'sys/class/net/eno1/device': '../../../devices/pci0000:00/0000:18:00.0',
      'sys/class/net/eno2/device': '../../../devices/pci0000:00/0000:18:00.1',
      'sys/devices/pci0000:00/0000:18:00.0/driver': '../../../bus/pci/drivers/bnxt_en',
      'sys/devices/pci0000:00/0000:18:00.1/driver': '../../../bus/pci/drivers/bnxt_en',
    },
  );
}

describe('edgeboot-inventory on a test double of /sys and /proc', () => {
  it('reads CPUs, installed and usable memory, disks, hardware NICs and UEFI firmware with Secure Boot on', () => {
    const m = dellServer();
    const inv = InventoryReport.parse(collect({ EDGEBOOT_SYSFS: m.sys, EDGEBOOT_PROC: m.proc }));
    expect(inv.cpu.count).toBe(4);
    expect(inv.cpu.model).toBe('Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz');
    expect(inv.memoryBytes).toBe(64 * GiB);
    expect(inv.memoryUsableBytes).toBe(65_566_468 * 1024);
    // /sys/block lists in name order: nvme0n1, sda, sdb; loop, optical and device-mapper are left out.
    expect(inv.disks).toEqual([
      { name: 'nvme0n1', sizeBytes: 960_197_124_096, model: 'Dell Ent NVMe P5600 MU U.2 1.6TB', serial: 'PHAB123400AB1P6AGN', rotational: false, removable: false },
      { name: 'sda', sizeBytes: 479_559_942_144, model: 'PERC H730P Mini', serial: 'naa.6d0946606e0d1e002a1b2c3d4e5f6a7b', rotational: false, removable: false },
      { name: 'sdb', sizeBytes: 15_502_147_584, rotational: true, removable: true },
    ]);
    // lo is not Ethernet, br0 has no device behind it; eno2's link is down, so no speed.
    expect(inv.nics).toEqual([
      { name: 'eno1', mac: '24:6e:96:aa:bb:01', driver: 'bnxt_en', speedMbps: 25000 },
      { name: 'eno2', mac: '24:6e:96:aa:bb:02', driver: 'bnxt_en' },
    ]);
    expect(inv.firmware).toEqual({ mode: 'uefi', secureBoot: true, vendor: 'Dell Inc.', product: 'PowerEdge R640', serial: 'ABC1234', biosVendor: 'Dell Inc.', biosVersion: '2.19.1' });
    expect(hardwareLabels(inv)).toMatchObject({ 'hw.cpus': '4', 'hw.memory-gib': '64', 'hw.disks': '2', 'hw.secure-boot': 'on', 'hw.vendor': 'dell' });
  });

  it('says Secure Boot is off when the variable holds 0, and unknown when efivars holds nothing readable', () => {
    const off = dellServer({ [`sys/firmware/efi/efivars/SecureBoot-${EFI_GLOBAL}`]: Buffer.from([0x06, 0, 0, 0, 0x00]) });
    expect((collect({ EDGEBOOT_SYSFS: off.sys, EDGEBOOT_PROC: off.proc }) as any).firmware.secureBoot).toBe(false);
    rmSync(work, { recursive: true, force: true });
    const unmounted = dellServer();
    rmSync(join(unmounted.sys, `firmware/efi/efivars/SecureBoot-${EFI_GLOBAL}`));
    const inv = collect({ EDGEBOOT_SYSFS: unmounted.sys, EDGEBOOT_PROC: unmounted.proc }) as any;
    expect(inv.firmware.mode).toBe('uefi');
    expect(inv.firmware.secureBoot).toBeNull();
  });

  it('says Secure Boot is off when efivars holds global variables but no SecureBoot (firmware without it)', () => {
    const m = dellServer({ [`sys/firmware/efi/efivars/BootOrder-${EFI_GLOBAL}`]: Buffer.from([0x07, 0, 0, 0, 0x01, 0x00]) });
    rmSync(join(m.sys, `firmware/efi/efivars/SecureBoot-${EFI_GLOBAL}`));
    expect((collect({ EDGEBOOT_SYSFS: m.sys, EDGEBOOT_PROC: m.proc }) as any).firmware).toMatchObject({ mode: 'uefi', secureBoot: false });
  });

  it('reports a BIOS machine, leaves out DMI placeholders, and keeps hostile strings printable, escaped and short', () => {
    const long = `Model "X" \\ ${'9'.repeat(300)}`;
    const m = fakeMachine({
      'proc/cpuinfo': 'processor\t: 0\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n',
      'proc/meminfo': 'MemTotal:        8131584 kB\n',
      'sys/block/mmcblk0/size': '62333952',
      'sys/block/mmcblk0/device/model': long,
      'sys/block/mmcblk0/serial': 'ab\u0001\u001bcd',
      'sys/class/dmi/id/sys_vendor': 'To Be Filled By O.E.M.',
      'sys/class/dmi/id/product_name': 'Default string',
      'sys/class/dmi/id/product_serial': '   ',
      'sys/class/dmi/id/bios_vendor': 'American Megatrends Inc.',
    });
    const raw = collect({ EDGEBOOT_SYSFS: m.sys, EDGEBOOT_PROC: m.proc });
    const inv = InventoryReport.parse(raw);
    expect(inv.cpu).toMatchObject({ count: 1, model: 'Raspberry Pi 5 Model B Rev 1.0' });
    // No memory blocks in sysfs: MemTotal is what there is.
    expect(inv.memoryBytes).toBe(8_131_584 * 1024);
    expect(inv.firmware).toEqual({ mode: 'bios', secureBoot: null, biosVendor: 'American Megatrends Inc.' });
    expect(inv.nics).toEqual([]);
    const disk = inv.disks[0]!;
    expect(disk.model).toBe(long.slice(0, 128));
    expect(disk.serial).toBe('abcd');
    expect(disk.rotational).toBeUndefined();
  });

  it('counts CPUs from /sys when /proc/cpuinfo says nothing of processors (some ARM kernels)', () => {
    const m = fakeMachine({
      'proc/cpuinfo': 'Hardware\t: BCM2835\n',
      'proc/meminfo': 'MemTotal:        1024000 kB\n',
      'sys/devices/system/cpu/cpu0/online': '1',
      'sys/devices/system/cpu/cpu1/online': '1',
      'sys/devices/system/cpu/cpu2/online': '1',
      'sys/devices/system/cpu/cpufreq/policy0': '',
    });
    expect((InventoryReport.parse(collect({ EDGEBOOT_SYSFS: m.sys, EDGEBOOT_PROC: m.proc }))).cpu.count).toBe(3);
  });
});

describe('edgeboot-inventory on this machine', () => {
  it('reads the real /sys and /proc: what Node sees of CPUs and memory, a report the cloud takes', () => {
    const inv = InventoryReport.parse(collect({}));
    expect(inv.cpu.count).toBeGreaterThanOrEqual(1);
    expect(inv.cpu.count).toBe(cpus().length);
    expect(inv.memoryUsableBytes).toBe(totalmem());
    expect(inv.memoryBytes).toBeGreaterThanOrEqual(totalmem());
    const blockDevices = execFileSync('/bin/busybox', ['ls', '/sys/block'], { encoding: 'utf8' }).split(/\s+/).filter((n) => n && !/^(loop|ram|zram|sr|fd|md|dm-)/.test(n));
    expect(inv.disks.map((d) => d.name).sort()).toEqual(blockDevices.sort());
    expect(inv.firmware.mode).toBe(execFileSync('/bin/busybox', ['sh', '-c', '[ -d /sys/firmware/efi ] && echo uefi || echo bios'], { encoding: 'utf8' }).trim());
  });
});

describe('edgeboot-imager and the inventory', () => {
  let run: AgentRun | undefined;
  afterEach(() => {
    cleanup(run);
    run = undefined;
  });

  it('posts the inventory before asking for its job, and images on when the cloud does not take it', async () => {
    run = await runAgent({
      image: new Uint8Array(4096).fill(7),
      format: 'raw',
      disks: [{ name: 'vda', sizeBytes: 1 << 20, serial: 'QM00001', model: 'QEMU HARDDISK', rotational: true }],
    });
    expect(run.code, run.output).toBe(0);
    expect(run.result).toBe('succeeded');
    // The imager's own inventory of the harness's fake /sys/block (real /proc): what it posted.
    const inv = InventoryReport.parse(JSON.parse(readFileSync(join(run.runDir, 'inventory.json'), 'utf8')));
    expect(inv.disks).toEqual([{ name: 'vda', sizeBytes: 1 << 20, model: 'QEMU HARDDISK', serial: 'QM00001', rotational: true, removable: false }]);
    // The harness's cloud has no inventory route: the refusal is logged, imaging goes on.
    const log = readFileSync(join(run.runDir, 'imager.log'), 'utf8');
    expect(log).toMatch(/inventory not taken: HTTP 404 .*no route POST \/v1\/callback\/inventory/);
    expect(log.indexOf('inventory not taken')).toBeLessThan(log.indexOf('job: agent-test'));
    expect(run.jobRequests).toHaveLength(1);
  });
});
