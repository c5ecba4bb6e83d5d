#!/usr/bin/env node
/**
 * Node entry, the embedded default: SQLite file and object folder under EDGEBOOT_DATA (./data),
 * listening on 127.0.0.1:8787 (HOST, PORT). The only Node file that chooses adapters.
 */
import { compress } from 'hono/compress';
import { serve } from '@hono/node-server';
import { registerTsx } from '../adapters/node/tsx-hooks.ts';
import { systemClock } from '../ports/clock.ts';
import { fsObjectStore } from '../adapters/node/fs-object-store.ts';
import { localSettings, openLocalDatabase, orExit } from './local.ts';
import { ConfigError } from './settings.ts';
import { listenFailure } from './listen-error.ts';
import { inProcessWebhooks } from '../webhooks/in-process.ts';
import { nodeWebhookTransport } from '../adapters/node/webhook-transport.ts';
import { webhookSettings } from '../webhooks/settings.ts';
import { inProcessSiteSync } from '../sync/in-process.ts';

// The web console's pages are .tsx: compile them on import (imported below, after the hook is in place).
registerTsx();
const { createApp } = await import('../app.ts');

const { host, port, dataDir, adminToken, webhookConfig } = await orExit(() => {
  const port = Number(process.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be a port number, not ${JSON.stringify(process.env.PORT)}`);
  return { ...localSettings(process.env), host: process.env.HOST ?? '127.0.0.1', port, webhookConfig: webhookSettings(process.env) };
});
const db = await openLocalDatabase({ dataDir, adminToken });

// Webhook deliveries run in this process, from the outbox in the database (webhooks/in-process.ts).
const webhooks = inProcessWebhooks({ db, clock: systemClock, transport: nodeWebhookTransport(), ...webhookConfig });
// Relays' long-polls wait in this process (sync/hub.ts): writers wake only the sites they changed.
const siteChanges = inProcessSiteSync({ db });
const app = createApp({ db, objects: fsObjectStore(dataDir), clock: systemClock, bootstrapAdminToken: adminToken, webhooks, siteChanges, compressConsole: compress() });
webhooks.start();
const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
  console.log(`edgeboot control plane listening on http://${host.includes(':') ? `[${host}]` : host}:${info.port} (data in ${dataDir})`);
});
// A port in use (or a privileged one) is the one start failure a person fixes by themselves: say it in one line.
server.once('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw err;
  const f = listenFailure(err.code === 'EADDRINUSE' ? 'in-use' : 'denied', host, port);
  console.error(f.message);
  db.close();
  process.exit(f.exitCode);
});

const stop = () => {
  void webhooks.stop();
  server.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
