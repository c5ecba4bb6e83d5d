/**
 * What the Node and Deno entries share: settings from the environment, the SQLite file under the
 * data folder, and the first-start admin token. Runs on both (node: modules work under Deno).
 */
import { mkdirSync } from 'node:fs';
import process from 'node:process';
import { join, resolve } from 'node:path';
import { createFirstAdminToken } from '../auth/bootstrap.ts';
import { systemClock } from '../ports/clock.ts';
import { migrateSqlite, openSqlite } from '../adapters/node/sqlite.ts';
import { adminTokenSetting, ConfigError } from './settings.ts';

export type EnvVars = Record<string, string | undefined>;

export interface LocalSettings {
  dataDir: string;
  /** Accepted as admin without being in the database (unattended set-ups). */
  adminToken: string | undefined;
}

export function localSettings(env: EnvVars): LocalSettings {
  return { dataDir: resolve(env.EDGEBOOT_DATA || 'data'), adminToken: adminTokenSetting(env.EDGEBOOT_ADMIN_TOKEN) };
}

/** Opens (and migrates) `<dataDir>/edgeboot.db`; on a first start without EDGEBOOT_ADMIN_TOKEN, prints a new admin token once. */
export async function openLocalDatabase(settings: LocalSettings): Promise<ReturnType<typeof openSqlite>> {
  mkdirSync(settings.dataDir, { recursive: true });
  const db = openSqlite(join(settings.dataDir, 'edgeboot.db'));
  migrateSqlite(db.raw);
  if (!settings.adminToken) {
    const secret = await createFirstAdminToken(db, systemClock.now());
    if (secret) console.log(`First start: created an admin token. It is shown only this once; keep it safe:\n\n  ${secret}\n`);
  }
  return db;
}

/** Runs `start`, turning a ConfigError into one clear line and exit status 2 instead of a stack trace. */
export async function orExit<T>(start: () => Promise<T> | T): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}
