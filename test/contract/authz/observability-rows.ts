import { expect } from 'vitest';
import type { Expect, Row } from './matrix.ts';

/** /healthz: anyone, any header; it reveals only that the service and its database answer. */
const everyone: Expect = {
  admin: 200,
  operatorOwn: 200,
  operatorOther: 200,
  viewerAll: 200,
  viewerOwn: 200,
  viewerOther: 200,
  relayOwn: 200,
  relayOther: 200,
  anonymous: 200,
  revoked: 200,
  garbage: 200,
};

/** /metrics: counts of every site, so admins and fleet-wide viewers (a scraper's token) only. */
const fleetReaders: Expect = {
  admin: 200,
  operatorOwn: 403,
  operatorOther: 403,
  viewerAll: 200,
  viewerOwn: 403,
  viewerOther: 403,
  relayOwn: 403,
  relayOther: 403,
  anonymous: 401,
  revoked: 401,
  garbage: 401,
};

export const observabilityRows: Row[] = [
  {
    route: 'GET /healthz',
    sites: 'none',
    expect: everyone,
    request: () => ({ method: 'GET', path: '/healthz' }),
    after: async (_w, _site, _s, { res }) => expect(res.body).toEqual({ status: 'ok' }),
  },
  {
    route: 'GET /metrics',
    sites: 'none',
    expect: fleetReaders,
    request: () => ({ method: 'GET', path: '/metrics' }),
    after: async (_w, _site, _s, { ok, res }) => {
      if (ok) expect(res.text).toContain('\n# TYPE edgeboot_relays gauge\n');
    },
  },
];
