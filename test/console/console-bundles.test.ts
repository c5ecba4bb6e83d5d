import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/spawned-entry.ts';

describe('the console and the relay bundle', () => {
  it('keeps the console (and Hono JSX) out of the relay that sites run', async () => {
    const out = await build({
      entryPoints: [join(REPO_ROOT, 'relay/src/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.length).toBeGreaterThan(20);
    expect(inputs.filter((i) => i.includes('cloud/src/console') || i.includes('hono/dist/jsx') || i.endsWith('.tsx'))).toEqual([]);
  });
});
