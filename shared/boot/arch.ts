import type { Arch } from '../schemas/common.ts';

/**
 * DHCP option 93, client system architecture (RFC 4578 §2.1, IANA "Processor Architecture Types").
 * One entry per code we serve; anything else is unknown and fails closed (no boot answer).
 *
 * - 7 and 9 both mean x86-64 UEFI: RFC 4578 listed 7 as "EFI BC" and 9 as "EFI x86-64", an erratum
 *   swapped them, and firmware in the field sends either. OVMF sends 7.
 * - 15/16/18/19/20 are the HTTP-boot variants (UEFI 2.5+): the firmware wants an http:// URL in
 *   the boot file name and `HTTPClient` in option 60, not a TFTP path.
 * - A Raspberry Pi 5 reports 0 despite being arm64; it is handled by MAC/label assignment, not here.
 */
export const ARCH_TABLE = {
  0: { arch: 'bios', http: false, name: 'x86 BIOS' },
  6: { arch: 'uefi-ia32', http: false, name: 'x86 UEFI' },
  7: { arch: 'uefi-x64', http: false, name: 'x64 UEFI' },
  9: { arch: 'uefi-x64', http: false, name: 'x64 UEFI (erratum code)' },
  10: { arch: 'uefi-arm32', http: false, name: 'ARM 32-bit UEFI' },
  11: { arch: 'uefi-arm64', http: false, name: 'ARM 64-bit UEFI' },
  15: { arch: 'uefi-ia32', http: true, name: 'x86 UEFI HTTP boot' },
  16: { arch: 'uefi-x64', http: true, name: 'x64 UEFI HTTP boot' },
  18: { arch: 'uefi-arm32', http: true, name: 'ARM 32-bit UEFI HTTP boot' },
  19: { arch: 'uefi-arm64', http: true, name: 'ARM 64-bit UEFI HTTP boot' },
  20: { arch: 'bios', http: true, name: 'x86 BIOS HTTP boot' },
} as const satisfies Record<number, { arch: Arch; http: boolean; name: string }>;

export type ArchCode = keyof typeof ARCH_TABLE;

export interface ClientArch {
  code: ArchCode;
  arch: Arch;
  http: boolean;
  name: string;
}

/** The architecture for an option 93 value, or null for codes edgeboot does not boot. */
export function archFromCode(code: number): ClientArch | null {
  const e = (ARCH_TABLE as Record<number, { arch: Arch; http: boolean; name: string } | undefined>)[code];
  return e ? { code: code as ArchCode, ...e } : null;
}

/** Whether the firmware is UEFI (decides `exit` vs `sanboot` for local boot, `initrd=` on the kernel line). */
export function isUefi(arch: Arch): boolean {
  return arch !== 'bios';
}
