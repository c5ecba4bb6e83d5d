/**
 * Bundles the relay into one ES module, `relay/dist/edgeboot-relay.mjs`, which is what a site runs
 * (`relay/edgeboot-relay.service`). Why ship a bundle: run from its TypeScript sources the relay loads
 * Node's type stripper and ~150 modules, and idles at ~117 MB resident (60 MB private); the bundle
 * needs neither and idles at ~82 MB (35 MB private). The tests that start the relay as a process run
 * this bundle, built from the current sources (test/relay/support/lan.ts).
 *
 *   npm run build:relay
 */
import { renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
export const RELAY_BUNDLE = join(ROOT, 'relay/dist/edgeboot-relay.mjs');

/** Builds the bundle (write to a temporary name, then rename: concurrent builders never tear it). */
export async function buildRelay(): Promise<string> {
  const tmp = `${RELAY_BUNDLE}.${process.pid}.tmp`;
  await build({
    entryPoints: [join(ROOT, 'relay/src/main.ts')],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    legalComments: 'none',
    logLevel: 'warning',
    // Some dependencies still call require() for Node built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __edgebootRequire } from 'node:module';\nconst require = __edgebootRequire(import.meta.url);" },
  });
  renameSync(tmp, RELAY_BUNDLE);
  return RELAY_BUNDLE;
}

if (import.meta.main) {
  const out = await buildRelay();
  console.log(`relay bundled: ${out}`);
}
