import { describe, expect, it } from 'vitest';
import { chooseTargetDisk } from '../../shared/boot/target-disk.ts';
import type { DiskInfo } from '../../shared/schemas/imaging.ts';

const GiB = 1024 ** 3;
const disk = (name: string, size: number, extra: Partial<DiskInfo> = {}): DiskInfo => ({ name, path: `/dev/${name}`, size, removable: false, ...extra });

const nvme = disk('nvme0n1', 512 * GiB, { serial: 'S4EWNX0N123456', model: 'Samsung SSD 970' });
const sata = disk('sda', 2000 * GiB, { serial: 'WD-WCC4E1234567', rotational: true });
const usb = disk('sdb', 16 * GiB, { removable: true, serial: 'USB123' });
const cdrom = disk('sr0', 0, { removable: true });

const chosen = (disks: DiskInfo[], want?: Parameters<typeof chooseTargetDisk>[1]) => {
  const c = chooseTargetDisk(disks, want);
  return c.ok ? c.disk.path : `refused: ${c.reason}`;
};

describe('chooseTargetDisk', () => {
  it('takes the single non-removable disk when nothing is asked, ignoring USB sticks and empty drives', () => {
    expect(chosen([usb, nvme, cdrom])).toBe('/dev/nvme0n1');
  });

  it('refuses to guess between two fixed disks and lists them', () => {
    const r = chosen([nvme, sata, usb]);
    expect(r).toMatch(/^refused: more than one non-removable disk \(\/dev\/nvme0n1, \/dev\/sda\)/);
    expect(r).toContain('serial WD-WCC4E1234567');
  });

  it('refuses when there is no disk, or only removable ones', () => {
    expect(chosen([])).toBe('refused: no non-removable disk; disks seen: none');
    expect(chosen([usb, cdrom])).toMatch(/^refused: no non-removable disk; disks seen: \/dev\/sdb \(16\.0 GiB, serial USB123, removable\)/);
  });

  it('picks by serial, case and surrounding blanks aside', () => {
    expect(chosen([nvme, sata], { serial: ' wd-wcc4e1234567' })).toBe('/dev/sda');
    expect(chosen([nvme, sata], { serial: 'nope' })).toMatch(/^refused: no matching serial nope disk/);
  });

  it('picks by exact size', () => {
    expect(chosen([nvme, sata], { size: 512 * GiB })).toBe('/dev/nvme0n1');
    expect(chosen([nvme, sata], { size: 512 * GiB + 1 })).toMatch(/^refused: no matching size/);
  });

  it('picks by path, even a removable disk, since it is named explicitly', () => {
    expect(chosen([nvme, sata, usb], { path: '/dev/sdb' })).toBe('/dev/sdb');
    expect(chosen([nvme], { path: '/dev/sda' })).toMatch(/^refused: no matching path \/dev\/sda disk; disks seen: \/dev\/nvme0n1/);
  });

  it('requires every given criterion to match', () => {
    expect(chosen([nvme, sata], { path: '/dev/sda', serial: 'S4EWNX0N123456' })).toMatch(/^refused: no matching path \/dev\/sda and serial/);
    expect(chosen([nvme, sata], { path: '/dev/sda', serial: 'WD-WCC4E1234567', size: 2000 * GiB })).toBe('/dev/sda');
  });

  it('refuses two disks with the same serial (multipath) rather than picking one', () => {
    expect(chosen([sata, { ...sata, name: 'sdc', path: '/dev/sdc' }], { serial: 'WD-WCC4E1234567' })).toMatch(/^refused: more than one matching serial/);
  });
});
