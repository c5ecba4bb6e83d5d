import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import { RelayLoaderFiles, RelaySnapshot, RelaySnapshotDelta, RelaySnapshotPage } from '../../../shared/schemas/relay-sync.ts';
import { parseSyncFeatures, SYNC_FEATURES_HEADER } from '../../../shared/sync/features.ts';
import { SYNC_PAGE_MACHINES } from '../../../shared/sync/paging.ts';
import { filePath, fileUrls } from '../boot/file-urls.ts';
import { siteSnapshot } from '../boot/site-snapshot.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { RECONNECT_MAX_REQUESTS, RECONNECT_WINDOW_MS } from '../sync/reconnects.ts';
import { pageMachinesFor, siteSyncOf } from '../sync/site-sync.ts';
import { directPage, directSync } from '../sync/snapshots.ts';
import { errorResponses, json, router } from './openapi.ts';

const tags = ['relay'];
/** Long-poll bound: well under the idle timeouts of proxies and of Workers' clients. */
const MAX_WAIT_SECONDS = 30;

const SyncQuery = z.strictObject({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .meta({ description: `with If-None-Match: hold the request up to this many seconds until the snapshot changes (then 200), else 304` }),
});

const PageQuery = z.strictObject({
  version: z.string().min(1).max(128).meta({ description: 'the `version` of the first page' }),
  cursor: z.string().min(1).max(256).meta({ description: 'the `next` of the previous page' }),
});

/**
 * An error envelope with a code errors.ts does not list (yet): the same shape onError writes.
 * `version_gone` and `too_many_requests` are part of the relay-sync wire protocol.
 */
function envelope(c: Context<AppEnv>, code: string, message: string): { error: { code: string; message: string; requestId: string } } {
  return { error: { code, message, requestId: c.get('requestId') } };
}

/** The shim and GRUB images a snapshot names, for the relay's cache to fetch before a machine asks. */
function loaderImages(s: Omit<RelaySnapshot, 'version'>): string[] {
  const ids = new Set<string>();
  for (const l of [s.unknownMachines.loader, ...s.machines.map((m) => m.loader)]) {
    if (l) ids.add(l.shim).add(l.grub);
  }
  return [...ids];
}

/** Mounted at /v1/relay. */
export function relaySyncRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/loaders',
        tags,
        summary: "Signed sources of the shim and GRUB images the site's snapshot names (relay token)",
        responses: { 200: json(RelayLoaderFiles), ...errorResponses },
      }),
      async (c) => {
        const { db, clock } = c.get('deps');
        const siteId = c.get('principal')!.siteIds![0]!;
        const content = await siteSnapshot(db, siteId);
        if (!content) throw notFound('site');
        const ids = loaderImages(content);
        const rows = ids.length === 0 ? [] : await db.all<{ id: string; sha256: string | null; size: number | null }>(sql("SELECT id, sha256, size FROM images WHERE status = 'ready' AND id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)));
        const ready = rows.filter((r) => r.sha256 !== null && r.size !== null);
        // Paths only (no base): the relay fetches them through its own cloud client.
        const urls = await fileUrls({ db }, { base: '', imageIds: ready.map((r) => r.id), siteId, nowSec: Math.floor(clock.now() / 1000) });
        const files = ready.map((r) => ({ imageId: r.id, path: urls.get(r.id) ?? filePath(r.id), sha256: r.sha256!, size: r.size! }));
        c.header('cache-control', 'no-store');
        return c.json({ files }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/sync',
        tags,
        summary: "The site's snapshot for answering DHCP offline; ETag/If-None-Match and long-poll (relay token)",
        request: {
          query: SyncQuery,
          headers: z.object({
            'if-none-match': z.string().max(1024).optional(),
            [SYNC_FEATURES_HEADER]: z.string().max(256).optional().meta({ description: '`delta`, `pages`: what the relay reads (else the whole snapshot)' }),
          }),
        },
        responses: {
          200: json(
            z.union([RelaySnapshot, RelaySnapshotDelta]),
            'the snapshot (its first page when `next` is set), or a delta from the If-None-Match version (it has `base`)',
          ),
          304: { description: 'unchanged (after the wait, if one was asked)' },
          429: json(ErrorEnvelope, 'too many sync requests from this relay: come back after Retry-After seconds'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const { wait } = c.req.valid('query');
        const inm = c.req.header('if-none-match');
        const deps = c.get('deps');
        const p = c.get('principal')!;
        const siteId = p.siteIds![0]!;
        const features = [...parseSyncFeatures(c.req.header(SYNC_FEATURES_HEADER))];
        const hub = siteSyncOf(deps);
        // Every entry gives the app a hub (the Worker refuses to run without its SITE_SYNC binding); an
        // app built by hand without one answers at once, without holding the wait.
        const a = hub
          ? await hub.sync({ siteId, relayId: p.relayId!, ifNoneMatch: inm, waitMs: (wait ?? 0) * 1000, features })
          : await directSync(deps.db, siteId, inm, pageMachinesFor(features));
        c.header('cache-control', 'no-cache');
        switch (a.kind) {
          case 'no_site':
            throw notFound('site');
          case 'too_many':
            c.header('retry-after', String(a.retryAfterSeconds));
            return c.json(envelope(c, 'too_many_requests', `more than ${RECONNECT_MAX_REQUESTS} sync requests in ${RECONNECT_WINDOW_MS / 1000} s: long-poll with wait, and come back after Retry-After`), 429);
          case 'unchanged':
            c.header('etag', a.etag);
            return c.body(null, 304);
          default:
            c.header('etag', a.etag);
            return c.json(a.body, 200);
        }
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/sync/page',
        tags,
        summary: "A later page of the site's snapshot, after the first answer's `next` (relay token)",
        request: { query: PageQuery },
        responses: {
          200: json(RelaySnapshotPage),
          410: json(ErrorEnvelope, 'that version is no longer the site\'s current one: fetch /v1/relay/sync again'),
          ...errorResponses,
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const deps = c.get('deps');
        const siteId = c.get('principal')!.siteIds![0]!;
        const hub = siteSyncOf(deps);
        const req = { siteId, version: q.version, cursor: q.cursor };
        const a = hub ? await hub.page(req) : await directPage(deps.db, req, SYNC_PAGE_MACHINES);
        c.header('cache-control', 'no-store');
        switch (a.kind) {
          case 'no_site':
            throw notFound('site');
          case 'bad_cursor':
            throw new AppError('validation_failed', a.message, { issues: [{ path: 'cursor', message: a.message }] });
          case 'gone':
            return c.json(envelope(c, 'version_gone', `version ${q.version} is no longer the site's current snapshot: fetch /v1/relay/sync again`), 410);
          default:
            return c.json(a.body, 200);
        }
      },
    );
}
