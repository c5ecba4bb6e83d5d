import { expect } from 'vitest';
import { renderedBoot, type RenderedBoot } from '../boot-fixtures.ts';
import { dellReport } from '../api/inventory.contract.ts';
import { call } from '../target.ts';
import type { Expect, Row, World } from './matrix.ts';

/**
 * The imager's inventory report takes only a boot's callback token, as every callback: no person's
 * or relay's token may write a machine's hardware (it feeds hw.* selector labels, so a forged
 * report could steer which profile a machine boots). Register in authz.contract.ts ALL_ROWS.
 */
const callbackTokenOnly: Expect = {
  admin: 401,
  operatorOwn: 401,
  operatorOther: 401,
  viewerAll: 401,
  viewerOwn: 401,
  viewerOther: 401,
  relayOwn: 401,
  relayOther: 401,
  anonymous: 401,
  revoked: 401,
  garbage: 401,
};

const bootOf = (w: World): Promise<RenderedBoot> => renderedBoot(w.t, w.sites.A, { relay: { relayId: w.relays.A, token: w.tokens.relayA } });

export const inventoryRows: Row[] = [
  {
    route: 'POST /v1/callback/inventory',
    sites: 'none',
    expect: callbackTokenOnly,
    setup: (w) => bootOf(w),
    request: () => ({ method: 'POST', path: '/v1/callback/inventory', json: dellReport() }),
    after: async (w, _s, b: RenderedBoot) => {
      expect((await call(w.t, 'GET', `/v1/machines/${b.machineId}`)).body.inventory).toBeNull();
      // The boot's own token still reports: the refusals spent nothing.
      expect((await call(w.t, 'POST', '/v1/callback/inventory', { token: b.token, json: dellReport() })).status).toBe(200);
    },
  },
];
