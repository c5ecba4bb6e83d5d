/**
 * Node strips TypeScript types by itself but does not compile JSX, and the web console's pages are
 * `.tsx` (Hono JSX). This load hook compiles them with esbuild (a runtime dependency) as they are
 * imported. Register it before anything imports a `.tsx` module: ES modules are linked before they
 * run, so the importer must come in with a dynamic `import()` after `registerTsx()`.
 */
import { readFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

let registered = false;

export function registerTsx(): void {
  if (registered) return;
  registered = true;
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith('file:') || !url.endsWith('.tsx')) return nextLoad(url, context);
      const path = fileURLToPath(url);
      const { code } = transformSync(readFileSync(path, 'utf8'), {
        loader: 'tsx',
        format: 'esm',
        jsx: 'automatic',
        jsxImportSource: 'hono/jsx',
        target: 'node22',
        sourcefile: path,
        sourcemap: 'inline',
      });
      return { format: 'module', source: code, shortCircuit: true };
    },
  });
}
