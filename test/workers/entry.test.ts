import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import worker from '../../cloud/src/entry/workers.ts';
import { ConfigError } from '../../cloud/src/entry/settings.ts';

/** Calls the worker's handler with a chosen env, as the runtime would with other bindings. */
const handle = (path: string, bindings: typeof env, headers: Record<string, string> = {}) =>
  worker.fetch(new Request(`http://edgeboot.test${path}`, { headers }) as Parameters<typeof worker.fetch>[0], bindings, createExecutionContext());

it('refuses a malformed EDGEBOOT_ADMIN_TOKEN secret instead of trusting it as admin', async () => {
  await expect(handle('/v1/sites', { ...env, EDGEBOOT_ADMIN_TOKEN: 'admin' }, { authorization: 'Bearer admin' })).rejects.toBeInstanceOf(ConfigError);
});

it('serves without the secret, with no admin token accepted', async () => {
  const without = { ...env, EDGEBOOT_ADMIN_TOKEN: '' };
  expect((await handle('/v1/sites', without)).status).toBe(401);
  expect((await handle('/v1/sites', without, { authorization: `Bearer ${env.EDGEBOOT_ADMIN_TOKEN}` })).status).toBe(401);
  expect((await handle('/v1/sites', env, { authorization: `Bearer ${env.EDGEBOOT_ADMIN_TOKEN}` })).status).toBe(200);
});
