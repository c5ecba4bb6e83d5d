import { expect } from 'vitest';
import { relayOnly, type Row } from './matrix.ts';

/** Relay sync's own routes beyond GET /v1/relay/sync (telemetry-rows.ts): relay tokens only. */
export const syncRows: Row[] = [
  {
    route: 'GET /v1/relay/sync/page',
    sites: 'none',
    // Without a cursor: a relay token gets as far as the query's validation, everyone else is kept out
    // before it (the pages themselves are the sync contract's, which needs a site larger than a page).
    expect: relayOnly(400),
    request: () => ({ method: 'GET', path: `/v1/relay/sync/page?version=${'0'.repeat(32)}` }),
    after: async (_w, _s, _x, { res }) => {
      if (res.status === 400) expect(res.body.error.issues).toEqual([{ path: 'cursor', message: expect.any(String) }]);
    },
  },
];
