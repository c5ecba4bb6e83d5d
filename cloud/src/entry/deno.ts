/**
 * Deno entry for `deno serve` (npm run dev:deno): SQLite through node:sqlite under EDGEBOOT_DATA,
 * objects in a folder there or, when EDGEBOOT_S3_ENDPOINT is set, in any S3-compatible store (R2's
 * S3 API, MinIO…). `deno serve` owns the listener, so host and port are its flags, not env vars.
 */
import { compress } from 'hono/compress';
import process from 'node:process';
import { createApp } from '../app.ts';
import { systemClock } from '../ports/clock.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { fsObjectStore } from '../adapters/node/fs-object-store.ts';
import { lengthPreservingFetch } from '../adapters/node/length-preserving-fetch.ts';
import { s3ObjectStore, type S3Config } from '../adapters/s3-object-store.ts';
import { localSettings, openLocalDatabase, orExit, type EnvVars } from './local.ts';
import { ConfigError } from './settings.ts';
import { listenFailure } from './listen-error.ts';
import { inProcessWebhooks } from '../webhooks/in-process.ts';
import { nodeWebhookTransport } from '../adapters/node/webhook-transport.ts';
import { webhookSettings } from '../webhooks/settings.ts';
import { inProcessSiteSync } from '../sync/in-process.ts';

function s3Settings(env: EnvVars): S3Config | null {
  const endpoint = env.EDGEBOOT_S3_ENDPOINT;
  if (!endpoint) return null;
  const missing = ['EDGEBOOT_S3_BUCKET', 'EDGEBOOT_S3_ACCESS_KEY_ID', 'EDGEBOOT_S3_SECRET_ACCESS_KEY'].filter((k) => !env[k]);
  if (missing.length > 0) throw new ConfigError(`EDGEBOOT_S3_ENDPOINT is set, so ${missing.join(', ')} must be set too`);
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
    throw new ConfigError(`EDGEBOOT_S3_ENDPOINT must be an http(s) URL, not ${JSON.stringify(endpoint)}`);
  }
  return {
    endpoint,
    bucket: env.EDGEBOOT_S3_BUCKET!,
    // R2 takes `auto`; AWS needs the bucket's region.
    region: env.EDGEBOOT_S3_REGION || 'auto',
    accessKeyId: env.EDGEBOOT_S3_ACCESS_KEY_ID!,
    secretAccessKey: env.EDGEBOOT_S3_SECRET_ACCESS_KEY!,
    pathStyle: env.EDGEBOOT_S3_VIRTUAL_HOSTED !== '1',
  };
}

/** EDGEBOOT_S3_REDIRECT_FILES=1: signed file downloads get a 302 to a presigned S3 URL instead of passing through. */
function redirectSetting(env: EnvVars, onS3: boolean): boolean {
  const v = env.EDGEBOOT_S3_REDIRECT_FILES;
  if (v === undefined || v === '' || v === '0') return false;
  if (v !== '1') throw new ConfigError(`EDGEBOOT_S3_REDIRECT_FILES must be 1 or 0, not ${JSON.stringify(v)}`);
  if (!onS3) throw new ConfigError('EDGEBOOT_S3_REDIRECT_FILES=1 needs an S3 store (EDGEBOOT_S3_ENDPOINT)');
  return true;
}

const { app, db } = await orExit(async () => {
  const settings = localSettings(process.env);
  const s3 = s3Settings(process.env);
  // Deno's fetch sends streamed bodies chunked, which S3 and R2 refuse: node:http keeps Content-Length.
  const objects: ObjectStore = s3 ? s3ObjectStore({ ...s3, fetch: lengthPreservingFetch }) : fsObjectStore(settings.dataDir);
  const redirectFilesToStore = redirectSetting(process.env, s3 !== null);
  const webhookConfig = webhookSettings(process.env);
  const db = await openLocalDatabase(settings);
  console.log(`edgeboot control plane on Deno: data in ${settings.dataDir}, objects in ${s3 ? `${s3.endpoint} bucket ${s3.bucket}` : settings.dataDir}`);
  // Webhook deliveries run in this process, as on Node; receivers need `--allow-net` for their hosts.
  const webhooks = inProcessWebhooks({ db, clock: systemClock, transport: nodeWebhookTransport(), ...webhookConfig });
  webhooks.start();
  // Relays' long-polls wait in this process, as on Node (sync/hub.ts).
  const siteChanges = inProcessSiteSync({ db });
  return { db, app: createApp({ db, objects, clock: systemClock, bootstrapAdminToken: settings.adminToken, redirectFilesToStore, webhooks, siteChanges, compressConsole: compress() }) };
});

/**
 * `deno serve` listens after this module has loaded, and a port in use surfaces as an unhandled
 * rejection with a stack. The port is `deno serve`'s flag, invisible here: npm run dev:deno passes
 * the same value as PORT (and HOST) so the one line can name it.
 */
globalThis.addEventListener('unhandledrejection', (e) => {
  const reason: unknown = e.reason;
  const name = reason instanceof Error ? reason.name : '';
  if (name !== 'AddrInUse' && name !== 'PermissionDenied') return;
  if (name === 'PermissionDenied' && !/bind|listen|os error 13/i.test((reason as Error).message)) return;
  e.preventDefault();
  const env = (k: string): string | undefined => {
    try {
      return process.env[k];
    } catch {
      return undefined; // started without --allow-env for it
    }
  };
  const p = env('PORT');
  const f = listenFailure(name === 'AddrInUse' ? 'in-use' : 'denied', env('HOST') || '127.0.0.1', p && /^[0-9]{1,5}$/.test(p) ? Number(p) : null);
  console.error(f.message);
  db.close();
  process.exit(f.exitCode);
});

// Close the database on a polite stop so SQLite folds its WAL back into the file.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    db.close();
    process.exit(0);
  });
}

export default {
  fetch: (request: Request) => app.fetch(request),
};
