import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/** The admin secret the workerd column's worker accepts (a Workers secret in production). */
const WORKERS_TEST_ADMIN_TOKEN = 'ebt_workerstestadmintoken000000000000';

export default defineConfig(async () => ({
  test: {
    // CI reads the counts from a JSON report (.ci/run prints "N passed, N failed" from it).
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/workers/**', 'test/e2e/**', 'node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Real virtual machines (qemu, TCG) netbooting through the relay and the cloud: minutes, not seconds.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Tests that run inside workerd, against the worker of wrangler.toml with local D1 and R2.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              // The migrations are read here, in Node, and applied inside workerd by the setup file.
              bindings: { TEST_MIGRATIONS: await readD1Migrations('cloud/migrations'), EDGEBOOT_ADMIN_TOKEN: WORKERS_TEST_ADMIN_TOKEN },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          setupFiles: ['test/workers/apply-migrations.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
}));
