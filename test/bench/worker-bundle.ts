/**
 * Measurement (not a test; the size limit is asserted in test/unit/worker-bundle.test.ts): the Worker
 * bundle as `wrangler deploy` builds it from wrangler.toml, against the reference of the same sources
 * built with wrangler's defaults (no minify, esbuild's name keeping, no zod aliases), and the largest
 * inputs of the real build. Sizes are deterministic: one run is enough.
 *
 *   node test/bench/worker-bundle.ts [--top 15]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const { values } = parseArgs({ options: { top: { type: 'string', default: '15' } } });
const ROOT = resolve(import.meta.dirname, '../..');

/** wrangler.toml minus the bundle settings, with paths made absolute so it builds from a temp dir. */
function referenceConfig(): string {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const cut = toml.replace(/^\[alias\]\n(?:(?:"[^"\n]*"\s*=.*|#.*)\n)*/m, '').replace(/^(minify|keep_names)\s*=.*\n/gm, '');
  return cut.replace(/^main = "(.*)"/m, (_, p: string) => `main = "${join(ROOT, p)}"`).replace(/^migrations_dir = "(.*)"/m, (_, p: string) => `migrations_dir = "${join(ROOT, p)}"`);
}

function build(label: string, config?: string): { label: string; raw: number; gzip: number; meta: any } {
  const dir = mkdtempSync(join(tmpdir(), 'edgeboot-bundle-bench-'));
  try {
    const args = ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', dir, '--metafile', join(dir, 'meta.json')];
    if (config) {
      writeFileSync(join(dir, 'wrangler.toml'), config);
      args.push('--config', join(dir, 'wrangler.toml'));
    }
    execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'pipe', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
    const js = readFileSync(join(dir, 'workers.js'));
    return { label, raw: js.length, gzip: gzipSync(js).length, meta: JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kib = (n: number) => `${(n / 1024).toFixed(2)} KiB`;
const real = build('wrangler.toml');
const reference = build('reference (wrangler defaults, all of zod)', referenceConfig());
for (const b of [reference, real]) console.log(`${b.label.padEnd(44)} ${kib(b.raw).padStart(12)}  gzip ${kib(b.gzip).padStart(11)}`);
console.log(`ratio wrangler.toml / reference: raw ${(real.raw / reference.raw).toFixed(3)}, gzip ${(real.gzip / reference.gzip).toFixed(3)}; limit 150 KiB gzip: ${real.gzip <= 150 * 1024 ? 'met' : 'EXCEEDED'}`);

// Where the minified bytes of the real build come from, by package or top source folder.
const out = Object.entries(real.meta.outputs as Record<string, { inputs: Record<string, { bytesInOutput: number }> }>).find(([k]) => k.endsWith('workers.js'))![1];
const by = new Map<string, number>();
for (const [f, v] of Object.entries(out.inputs)) {
  const key = f.includes('node_modules/') ? f.replace(/.*node_modules\/((?:@[^/]+\/)?[^/]+).*/, '$1') : f.split('/').slice(0, 3).join('/');
  by.set(key, (by.get(key) ?? 0) + v.bytesInOutput);
}
console.log(`\nlargest inputs of the wrangler.toml build (minified bytes):`);
for (const [k, n] of [...by].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${kib(n).padStart(11)}  ${k}`);
