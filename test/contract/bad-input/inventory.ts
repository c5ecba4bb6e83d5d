import { expect } from 'vitest';
import { renderedBoot } from '../boot-fixtures.ts';
import { dellReport } from '../api/inventory.contract.ts';
import type { BodyEndpoint, ListRoute } from './suite.ts';

/**
 * Bad input for the hardware inventory (issue 17): the imager's report and the list's inventory
 * filters. Register in bad-input.contract.ts: inventoryEndpoints with the endpoints,
 * inventoryLists with the lists.
 */

const disk = (over: Record<string, unknown> = {}) => ({ name: 'sda', sizeBytes: 1 << 30, ...over });

export const inventoryEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/callback/inventory',
    method: 'POST',
    target: async (w) => {
      const b = await renderedBoot(w.t, w.siteA, { relay: w.relay });
      return { path: `/v1/callback/inventory?mac=${b.mac}`, token: b.token };
    },
    valid: () => dellReport(),
    invalid: () => [
      {},
      dellReport({ memoryBytes: -1 }),
      dellReport({ memoryBytes: 0 }),
      dellReport({ memoryBytes: 2 ** 60 }),
      dellReport({ memoryBytes: '64GiB' }),
      dellReport({ cpu: { count: 0 } }),
      dellReport({ cpu: { count: 1.5 } }),
      dellReport({ cpu: { count: 100_000 } }),
      dellReport({ cpu: { count: 4, model: 'x'.repeat(129) } }),
      dellReport({ cpu: { count: 4, arch: 'x86 64; rm' } }),
      dellReport({ disks: [disk({ sizeBytes: -512 })] }),
      dellReport({ disks: [disk({ sizeBytes: 1.5 })] }),
      dellReport({ disks: [disk({ name: '../sda' })] }),
      dellReport({ disks: [disk({ serial: 'a\u0000b' })] }),
      dellReport({ disks: [disk({ model: '' })] }),
      dellReport({ disks: [disk({ rotational: 'yes' })] }),
      // Fits the body limit (about 2 KiB), not the schema: 65 disks.
      dellReport({ disks: Array.from({ length: 65 }, (_, i) => disk({ name: `d${i}` })) }),
      dellReport({ nics: [{ name: 'eth0', mac: 'zz:zz:zz:zz:zz:zz' }] }),
      dellReport({ nics: [{ name: 'eth0', mac: '52:54:00:12:34:56', speedMbps: -1 }] }),
      dellReport({ nics: [{ name: 'eth0', mac: '52:54:00:12:34:56', driver: 'e1000e; reboot' }] }),
      dellReport({ nics: Array.from({ length: 65 }, (_, i) => ({ name: `e${i}`, mac: '52:54:00:12:34:56' })) }),
      dellReport({ firmware: { mode: 'coreboot', secureBoot: null } }),
      dellReport({ firmware: { mode: 'uefi' } }),
      dellReport({ firmware: { mode: 'uefi', secureBoot: 'on' } }),
      dellReport({ firmware: { mode: 'uefi', secureBoot: true, vendor: 'x'.repeat(129) } }),
      dellReport({ firmware: { mode: 'uefi', secureBoot: true, serial: 'tab\there' } }),
    ],
    unchanged: async (w, _valid, path) => async () => {
      const mac = new URL(path, 'http://x').searchParams.get('mac')!;
      const m = await w.admin('GET', `/v1/machines/${mac}`);
      expect(m.status).toBe(200);
      expect(m.body.inventory).toBeNull();
    },
  },
];

export const inventoryLists: ListRoute[] = [
  {
    route: '/v1/machines (inventory filters)',
    path: '/v1/machines',
    bad: ['minMemoryBytes=-1', 'minMemoryBytes=1.5', 'minMemoryBytes=32GiB', `minMemoryBytes=${2 ** 60}`, 'minMemoryBytes=', 'minCpus=0', 'minCpus=-4', 'minCpus=many', 'minCpus=100000'],
  },
];
