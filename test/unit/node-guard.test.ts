import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { nodeVersionProblem } from '../../scripts/node-guard.mjs';

describe('the Node version guard of npm scripts', () => {
  it.each(['20.20.2', '22.11.0', '18.0.0'])('refuses Node %s and says how to get the right one', (v) => {
    const msg = nodeVersionProblem(v, '/usr/bin/node') as string | null;
    expect(msg).toContain(`found ${v} at /usr/bin/node`);
    expect(msg).toContain('npm install');
  });

  it.each(['22.12.0', '24.21.0', '26.1.0'])('accepts Node %s', (v) => {
    expect(nodeVersionProblem(v, '/x/node')).toBeNull();
  });
});
