import { describe, expect, it } from 'vitest';
import { archFromCode, isUefi } from '../../shared/boot/arch.ts';

describe('archFromCode (DHCP option 93)', () => {
  it.each([
    [0, 'bios', false],
    [6, 'uefi-ia32', false],
    [7, 'uefi-x64', false],
    [9, 'uefi-x64', false],
    [10, 'uefi-arm32', false],
    [11, 'uefi-arm64', false],
    [15, 'uefi-ia32', true],
    [16, 'uefi-x64', true],
    [18, 'uefi-arm32', true],
    [19, 'uefi-arm64', true],
    [20, 'bios', true],
  ])('maps %i to %s (http boot: %s)', (code, arch, http) => {
    expect(archFromCode(code)).toMatchObject({ code, arch, http });
  });

  it.each([1, 2, 3, 4, 5, 8, 12, 13, 14, 17, 21, 0xffff, -1, 1.5, Number.NaN])('treats %s as unknown', (code) => {
    expect(archFromCode(code)).toBeNull();
  });

  it('treats every non-BIOS arch as UEFI', () => {
    expect(isUefi('bios')).toBe(false);
    expect(isUefi('uefi-x64')).toBe(true);
    expect(isUefi('uefi-arm64')).toBe(true);
  });
});
