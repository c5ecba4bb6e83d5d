/**
 * `zod` as the Worker bundle sees it (wrangler.toml `[alias]`; Node, Deno and the tests import zod
 * itself). @hono/zod-openapi hands the `z` namespace object to a function, and an object passed
 * around keeps every name it holds: esbuild could drop none of zod's ~150 schema kinds, checks and
 * helpers. This `z` holds the names the control plane calls, so the rest is shaken out.
 * A `z.name` missing from z.ts is `undefined` in the Worker only (esbuild does not see through the
 * re-exported namespace to warn): test/unit/worker-bundle.test.ts reads every `z.name` of the
 * sources and fails on one that zod has and z.ts lacks, and runs the built Worker.
 */
import * as z from './z.ts';

export { z };
export default z;
