import type { RenderContext } from '../../../shared/boot/ipxe-script.ts';
import type { Arch } from '../../../shared/schemas/common.ts';

/** One machine's boot as both renderers (iPXE scripts, GRUB configurations) see it in the golden tests. */
export function renderContext(arch: Arch): RenderContext {
  return {
    arch,
    profileName: 'debian-13',
    mac: '52:54:00:12:34:56',
    vars: {
      mac: '52:54:00:12:34:56',
      machineId: 'mch_01kc0000000000000000000000',
      hostname: 'node-7.lyon',
      uuid: '4c4c4544-0042-3510-8052-b4c04f4d4e31',
      serial: 'SN1234',
      siteId: 'site_01kc0000000000000000000000',
      arch,
      callbackUrl: 'http://10.0.0.2:8080/v1/callback',
      callbackToken: 'ebc_abcdefghijklmnopqrstuvwxyz012345',
      bootId: 'boot_01kc0000000000000000000000',
      filesUrl: 'http://10.0.0.2:8080/v1/callback/files/ebc_abcdefghijklmnopqrstuvwxyz012345',
      labels: { rack: 'r12' },
    },
    fileUrl: (id) => `http://10.0.0.2:8080/v1/files/${id}?sig=v1.k1.1800000000.site_x.${'A'.repeat(43)}`,
    chooseUrl: (id) => `http://10.0.0.2:8080/boot?choose=${id}`,
  };
}
