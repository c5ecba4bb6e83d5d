import { renameSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * One ES module for Node ≥ 22 from a TypeScript entry point, as the relay and the CLI ship: written
 * under a temporary name and renamed, so concurrent builders (parallel test files) never tear it.
 */
export async function bundleForNode(entry: string, outfile: string, opts: { executable?: boolean; define?: Record<string, string> } = {}): Promise<string> {
  const tmp = `${outfile}.${process.pid}.tmp`;
  // Some dependencies (yaml, undici) still call require() for Node built-ins; an ES module has none of its own.
  const requireShim = "import { createRequire as __edgebootRequire } from 'node:module';\nconst require = __edgebootRequire(import.meta.url);";
  await build({
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    legalComments: 'none',
    define: opts.define,
    logLevel: 'warning',
    banner: { js: opts.executable ? `#!/usr/bin/env node\n${requireShim}` : requireShim },
  });
  renameSync(tmp, outfile);
  return outfile;
}
