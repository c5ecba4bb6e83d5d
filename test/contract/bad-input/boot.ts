import { describe, expect, it } from 'vitest';
import { enrollBootRelay, signBootPath } from '../api/boot.contract.ts';
import { createSite } from '../fixtures.ts';
import { call, errorCode, randomMac, type ApiTarget } from '../target.ts';
import type { IdRoute, ListRoute } from './suite.ts';

const NO_MACHINE = 'mch_00000000000000000000000000';

export const bootIds: IdRoute[] = [
  { route: 'GET /v1/machines/{id}/explain', method: 'GET', path: (id) => `/v1/machines/${id}/explain`, unknownId: NO_MACHINE, shapedIds: true },
  { route: 'POST /v1/machines/{id}/reprovision', method: 'POST', path: (id) => `/v1/machines/${id}/reprovision`, unknownId: NO_MACHINE, shapedIds: true },
];

export const bootLists: ListRoute[] = [
  { route: '/v1/machines/{id}/explain', path: '/v1/machines/02:00:00:00:00:01/explain', bad: ['arch=sparc', 'arch=7', 'colour=blue', `arch=${'x'.repeat(300)}`] },
];

/** fileBase is pasted into scripts: anything beyond scheme://host[:port] must be refused. */
const BAD_FILE_BASES = [
  'ftp://relay.lan',
  'http://relay.lan/path',
  'http://relay.lan/',
  'http://relay.lan?x=1',
  'http://user:pw@relay.lan',
  'http://relay.lan:99999',
  'http://relay.lan:0',
  'http://[fe80::1]:8080',
  'http://relay lan',
  'http://relay.lan\n#!ipxe',
  'http://${next-server}',
  'relay.lan:8080',
  '',
  `http://${'a'.repeat(300)}`,
];

/** Query strings the boot endpoints must refuse with 400, never rendering anything. */
export function bootQueryInputContract(target: () => ApiTarget): void {
  describe('GET /v1/relay/boot and GET /v1/boot/{mac} query', () => {
    it('refuses a missing or bad MAC, a bad option 93, a bad fileBase or choose and unknown parameters with 400', async () => {
      const t = target();
      const relay = await enrollBootRelay(t, await createSite(t));
      const mac = randomMac();
      const bad = [
        'arch=0',
        `mac=zz:00:00:00:00:00&arch=0`,
        `mac=${mac}&arch=x86`,
        `mac=${mac}&arch=-1`,
        `mac=${mac}&arch=65536`,
        `mac=${mac}&arch=1.5`,
        `mac=${mac}&choose=../../etc`,
        `mac=${mac}&colour=blue`,
        ...BAD_FILE_BASES.map((b) => `mac=${mac}&arch=0&fileBase=${encodeURIComponent(b)}`),
      ];
      for (const q of bad) {
        const r = await call(t, 'GET', `/v1/relay/boot?${q}`, { token: relay.token });
        expect(r.status, `?${q}: ${r.text.slice(0, 200)}`).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
      // None of those recorded the machine.
      expect((await call(t, 'GET', `/v1/machines/${mac}`)).status).toBe(404);
    });

    it('refuses a bad MAC path, a missing or malformed signature with 400 in direct mode', async () => {
      const t = target();
      const relay = await enrollBootRelay(t, await createSite(t));
      const path = `/v1/boot/${randomMac().replaceAll(':', '-')}`;
      const sig = await signBootPath(relay, path);
      for (const url of [path, `${path}?sig=`, `${path}?sig=${'x'.repeat(300)}`, `${path}?sig=v1.a.b.c.d`, `/v1/boot/not-a-mac?sig=${sig}`, `${path}?sig=${sig}&colour=blue`, `${path}?sig=${sig}&fileBase=http://x`]) {
        const r = await call(t, 'GET', url, { token: null });
        expect(r.status, `${url}: ${r.text.slice(0, 200)}`).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
    });
  });
}
