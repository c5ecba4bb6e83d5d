import { env, exports } from 'cloudflare:workers';
import { describe } from 'vitest';
import { apiContract } from '../contract/api/index.ts';
import type { ApiTarget } from '../contract/target.ts';

/**
 * Column 2: the worker of wrangler.toml inside workerd, real local D1 and R2, requests through its
 * own `fetch` export. One target serves every case. That is safe because this plugin version keeps
 * storage for the whole test file and no longer rolls it back after each test (isolated storage left
 * with the move to Vitest 4, cloudflare/workers-sdk#12889): what a case writes is still there for its
 * later requests, and every case names its data uniquely, so cases never see each other's rows.
 * Each test file gets a fresh D1 and R2, migrated by apply-migrations.ts.
 */
describe('API contract — workerd (D1, R2)', () => {
  const target: ApiTarget = {
    name: 'workerd',
    adminToken: env.EDGEBOOT_ADMIN_TOKEN,
    fetch: (path, init) => exports.default.fetch(new Request(new URL(path, 'http://edgeboot.test'), init)),
  };
  apiContract(() => target);
});
