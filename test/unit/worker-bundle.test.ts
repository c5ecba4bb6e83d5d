/**
 * The Worker bundle, built exactly as `wrangler deploy` builds it (wrangler.toml: minify, the `zod`
 * alias), is held to a size, and the built file itself is run in workerd: the workers column of the
 * contract suite runs the sources through Vite, which does not apply wrangler's aliases, so this test
 * (with the e2e and console tests that start test/support/workerd.ts) sees the `z` the Worker really
 * gets (cloud/src/entry/workers-zod/).
 * A size is not a timing: asserting it is as deterministic as asserting a checksum.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readD1Migrations } from '@cloudflare/vitest-plugin';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as workerZ from '../../cloud/src/entry/workers-zod/z.ts';
import * as workerProcessors from '../../cloud/src/entry/workers-zod/json-schema-processors.ts';
import * as workerToJsonSchema from '../../cloud/src/entry/workers-zod/to-json-schema.ts';
import { inProcessTarget } from '../support/in-process.ts';
import { wranglerDurableObjects } from '../support/workerd.ts';

/** Issue 16: the Worker bundle ≤ 150 KiB gzipped (it was 272 KiB by wrangler's count before). */
const LIMIT_BYTES = 150 * 1024;
const ADMIN = 'ebt_bundletestadmintoken00000000000';

let dir: string;
let output: string;
let bundle: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeboot-worker-bundle-'));
  const r = spawnSync(process.execPath, ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', dir], {
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  output = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${output}`);
  bundle = readFileSync(join(dir, 'workers.js'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Worker bundle', () => {
  it('is at most 150 KiB gzipped', () => {
    // zlib's default level, as wrangler's own "gzip:" figure.
    const gzipped = gzipSync(bundle).length;
    console.log(`worker bundle: ${(bundle.length / 1024).toFixed(2)} KiB, gzip ${(gzipped / 1024).toFixed(2)} KiB (limit ${LIMIT_BYTES / 1024} KiB)`);
    expect(gzipped).toBeLessThanOrEqual(LIMIT_BYTES);
  });

  it('keeps every zod name the sources call in the Worker build', () => {
    // `z.name` across line breaks (`z\n  .discriminatedUnion(...)`), in every file the Worker may import;
    // `z.input<typeof X>` is a type (zod also has a run-time `input`, which nothing calls).
    const used = new Set<string>();
    for (const root of ['cloud/src', 'shared']) {
      for (const f of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
        if (!/\.tsx?$/.test(f)) continue;
        for (const m of readFileSync(join(root, f), 'utf8').matchAll(/\bz\s*\.\s*([A-Za-z_$][\w$]*)\b(?!\s*<)/g)) used.add(m[1]!);
      }
    }
    expect(used.has('discriminatedUnion')).toBe(true); // the scan finds a call split over two lines
    // Type-only names (z.infer) are no run-time keys of zod's z and need nothing.
    const missing = [...used].filter((name) => name in z && !(name in workerZ)).sort();
    expect(missing, 'add these to cloud/src/entry/workers-zod/z.ts').toEqual([]);
  });

  it("gives zod's classic schemas every name they take from the modules the Worker replaces", () => {
    const classic = readFileSync('node_modules/zod/v4/classic/schemas.js', 'utf8');
    const processorNames = new Set([...classic.matchAll(/\bprocessors\.(\w+)\(/g)].map((m) => m[1]!));
    expect(processorNames.has('aggregateChecks')).toBe(true);
    expect([...processorNames].filter((n) => !(n in workerProcessors))).toEqual([]);
    const imported = /import \{([^}]*)\} from "\.\.\/core\/to-json-schema\.js"/.exec(classic)?.[1]?.split(',').map((n) => n.trim()) ?? [];
    expect(imported.length).toBeGreaterThan(0);
    expect(imported.filter((n) => !(n in workerToJsonSchema))).toEqual([]);
  });

  describe('run in workerd', () => {
    let mf: Miniflare;
    beforeAll(async () => {
      mf = new Miniflare(
        convertV4MiniflareOptions({
          modules: true,
          scriptPath: join(dir, 'workers.js'),
          modulesRoot: dir,
          compatibilityDate: /^compatibility_date\s*=\s*"([\d-]+)"/m.exec(readFileSync('wrangler.toml', 'utf8'))![1]!,
          d1Databases: ['DB'],
          r2Buckets: ['IMAGES'],
          durableObjects: wranglerDurableObjects(),
          bindings: { EDGEBOOT_ADMIN_TOKEN: ADMIN },
          // workerd's local Analytics Engine keeps nothing, but it checks each data point's shape.
          analyticsEngineDatasets: { METRICS: { dataset: 'edgeboot_requests' } },
        }),
      );
      await mf.ready;
      const db = await mf.getD1Database('DB');
      for (const m of await readD1Migrations('cloud/migrations')) for (const q of m.queries) await db.prepare(q).run();
    }, 60_000);
    afterAll(() => mf?.dispose());

    it('serves the same OpenAPI document as the app built from the sources with all of zod', async () => {
      const res = await mf.dispatchFetch('http://edgeboot.test/openapi.json');
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
      expect(doc.paths['/v1/sites']?.get?.parameters?.find((p: any) => p.name === 'limit')?.schema).toMatchObject({ type: 'integer', minimum: 1 });
      const full = await inProcessTarget().fetch('/openapi.json');
      expect(doc).toEqual(await full.json());
    });

    it('answers /healthz and /metrics with its requests written to the Analytics Engine binding', async () => {
      expect((await mf.dispatchFetch('http://edgeboot.test/healthz')).status).toBe(200);
      // An unknown path and a refusal go through the same observer as a success.
      expect((await mf.dispatchFetch('http://edgeboot.test/v1/nothing-here', { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(404);
      const metrics = await mf.dispatchFetch('http://edgeboot.test/metrics', { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toMatch(/^edgeboot_http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]\d*$/m);
      expect(text).toContain('edgeboot_webhook_deliveries{state="pending"} 0\n');
    });

    it('refuses a malformed query with zod issues in English', async () => {
      const res = await mf.dispatchFetch('http://edgeboot.test/v1/sites?limit=many', { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string; issues: { path: string; message: string }[] } };
      expect(body.error.code).toBe('validation_failed');
      expect(body.error.issues[0]?.path).toBe('limit');
      expect(body.error.message).toMatch(/^invalid query: limit: Invalid input: expected number/);
    });
  });
});
