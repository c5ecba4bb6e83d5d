import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readD1Migrations } from '@cloudflare/vitest-plugin';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { parse } from 'smol-toml';

export interface RunningWorker {
  url: string;
  dispose(): Promise<void>;
}

/** The edgeboot worker as started by startEdgebootWorker: its Miniflare and D1 too, for benchmarks that look inside. */
export interface EdgebootWorker extends RunningWorker {
  mf: Miniflare;
  db: Awaited<ReturnType<Miniflare['getD1Database']>>;
}

/** The date wrangler.toml pins, so the benchmark runs the worker as it deploys. */
function compatibilityDate(): string {
  const m = /^compatibility_date\s*=\s*"([\d-]+)"/m.exec(readFileSync('wrangler.toml', 'utf8'));
  if (!m) throw new Error('wrangler.toml has no compatibility_date');
  return m[1]!;
}

/**
 * The Durable Object bindings wrangler.toml declares (SITE_SYNC, WEBHOOKS), as Miniflare takes them:
 * the Worker refuses to run without SITE_SYNC, and tests run it with what it is deployed with.
 */
export function wranglerDurableObjects(): Record<string, { className: string; useSQLite: boolean }> {
  const toml = parse(readFileSync('wrangler.toml', 'utf8')) as {
    durable_objects?: { bindings?: { name: string; class_name: string }[] };
    migrations?: { new_sqlite_classes?: string[] }[];
  };
  const sqliteClasses = new Set((toml.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return Object.fromEntries((toml.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]));
}

/** The worker exactly as `wrangler deploy` would upload it (wrangler's own bundler, dry run). */
export function bundleWorker(): { dir: string; main: string } {
  const dir = mkdtempSync(join(tmpdir(), 'edgeboot-bundle-'));
  execFileSync('node_modules/.bin/wrangler', ['deploy', '--dry-run', '--outdir', dir], { stdio: 'pipe', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
  const main = readdirSync(dir).find((f) => f.endsWith('.js'));
  if (!main) throw new Error(`wrangler produced no bundle in ${dir}`);
  return { dir, main: join(dir, main) };
}

/**
 * The edgeboot worker in workerd with local (in-memory) D1 and R2, migrations applied, reached
 * through Miniflare's direct socket to the worker: `wrangler dev`'s proxy costs 10× and would be
 * what the benchmark measured (FIELD-NOTES).
 */
export async function startEdgebootWorker(adminToken: string, vars: Record<string, string> = {}): Promise<EdgebootWorker> {
  const bundle = bundleWorker();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      scriptPath: bundle.main,
      modulesRoot: bundle.dir,
      compatibilityDate: compatibilityDate(),
      d1Databases: ['DB'],
      r2Buckets: ['IMAGES'],
      durableObjects: wranglerDurableObjects(),
      bindings: { ...vars, EDGEBOOT_ADMIN_TOKEN: adminToken },
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    }),
  );
  const db = await mf.getD1Database('DB');
  // The same statement splitting the workerd test column uses (it knows trigger bodies).
  for (const m of await readD1Migrations('cloud/migrations')) for (const q of m.queries) await db.prepare(q).run();
  const url = (await mf.unsafeGetDirectURL()).href.replace(/\/$/, '');
  return {
    url,
    mf,
    db,
    dispose: async () => {
      await mf.dispose();
      rmSync(bundle.dir, { recursive: true, force: true });
    },
  };
}

/** A trivial handler in workerd, for the ratio. */
export async function startTrivialWorker(script: string): Promise<RunningWorker> {
  const mf = new Miniflare(
    convertV4MiniflareOptions({ modules: true, script, compatibilityDate: compatibilityDate(), unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }] }),
  );
  const url = (await mf.unsafeGetDirectURL()).href.replace(/\/$/, '');
  return { url, dispose: () => mf.dispose() };
}
