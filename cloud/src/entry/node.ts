#!/usr/bin/env node
/**
 * Node entry, the embedded default: SQLite file and object folder under EDGEBOOT_DATA (./data),
 * listening on 127.0.0.1:8787 (HOST, PORT). The only Node file that chooses adapters.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from '../app.ts';
import { createFirstAdminToken } from '../auth/bootstrap.ts';
import { systemClock } from '../ports/clock.ts';
import { fsObjectStore } from '../adapters/node/fs-object-store.ts';
import { migrateSqlite, openSqlite } from '../adapters/node/sqlite.ts';

const dataDir = resolve(process.env.EDGEBOOT_DATA ?? 'data');
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const adminToken = process.env.EDGEBOOT_ADMIN_TOKEN;
if (adminToken !== undefined && !/^[A-Za-z0-9_-]{24,128}$/.test(adminToken)) {
  console.error('EDGEBOOT_ADMIN_TOKEN must be 24 to 128 characters of A-Z a-z 0-9 _ -');
  process.exit(2);
}

mkdirSync(dataDir, { recursive: true });
const db = openSqlite(join(dataDir, 'edgeboot.db'));
migrateSqlite(db.raw);

if (!adminToken) {
  const secret = await createFirstAdminToken(db, systemClock.now());
  if (secret) {
    console.log(`First start: created an admin token. It is shown only this once; keep it safe:\n\n  ${secret}\n`);
  }
}

const app = createApp({ db, objects: fsObjectStore(dataDir), clock: systemClock, bootstrapAdminToken: adminToken });
const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
  console.log(`edgeboot control plane listening on http://${host.includes(':') ? `[${host}]` : host}:${info.port} (data in ${dataDir})`);
});

const stop = () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
