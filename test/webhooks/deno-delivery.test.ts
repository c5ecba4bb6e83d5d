import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../cloud/src/webhooks/signature.ts';
import { call } from '../contract/target.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { startReceiver, until } from './receiver.ts';

/** Delivery from the Deno entry (deno serve, node:http through Deno's node compatibility) to a real receiver. */
describe('webhooks from the Deno entry', () => {
  let entry: SpawnedEntry | undefined;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver();
    entry = await spawnEntry({
      name: 'deno-webhook-delivery',
      command: join(REPO_ROOT, 'node_modules/.bin/deno'),
      // Outbound webhooks need network permission for the receivers' hosts, here the loopback.
      args: (dataDir) => ['serve', '--allow-env=EDGEBOOT_*', `--allow-read=cloud/migrations,${dataDir}`, `--allow-write=${dataDir}`, '--allow-net=127.0.0.1', '--host', '127.0.0.1', '--port', '0', 'cloud/src/entry/deno.ts'],
      env: { DENO_NO_UPDATE_CHECK: '1', EDGEBOOT_WEBHOOK_ALLOW_NETS: '127.0.0.0/8', EDGEBOOT_WEBHOOK_ALLOW_HTTP: '1' },
      listening: /listening on (http:\/\/\S+)/i,
    });
  });
  afterAll(async () => {
    await entry?.stop();
    await rx?.close();
  });

  it('sends a signed test event the receiver verifies', async () => {
    const created = await call(entry!, 'POST', '/v1/webhooks', { json: { url: rx.url('/deno') } });
    expect(created.status, created.text).toBe(201);
    expect((await call(entry!, 'POST', `/v1/webhooks/${created.body.id}/test`)).status).toBe(202);
    const got = await until('the test event at the receiver', () => rx.at('/deno')[0]);
    expect(await verifySignature(created.body.secret, new Headers(got.headers as Record<string, string>), got.body, got.atSeconds)).toBeNull();
    expect(JSON.parse(got.body).type).toBe('webhook.test');
    const log = await until('the delivery logged as succeeded', async () => {
      const [d] = (await call(entry!, 'GET', `/v1/webhooks/${created.body.id}/deliveries`)).body.items;
      return d?.state === 'succeeded' && d;
    });
    expect(log.attemptLog).toMatchObject([{ attempt: 1, status: 204 }]);
  });
});
