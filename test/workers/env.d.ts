/// <reference types="@cloudflare/vitest-plugin/types" />
import type { D1Migration } from 'cloudflare:test';
import type { Env as WorkerEnv } from '../../cloud/src/entry/workers.ts';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      /** Read from cloud/migrations by vitest.config.ts, applied by apply-migrations.ts. */
      TEST_MIGRATIONS: D1Migration[];
      EDGEBOOT_ADMIN_TOKEN: string;
    }
    interface GlobalProps {
      mainModule: typeof import('../../cloud/src/entry/workers.ts');
    }
  }
}
