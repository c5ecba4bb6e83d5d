import { createRoute, z } from '@hono/zod-openapi';
import { RelayLoaderFiles, RelaySnapshot } from '../../../shared/schemas/relay-sync.ts';
import { sha256Hex } from '../auth/secrets.ts';
import { filePath, fileUrls } from '../boot/file-urls.ts';
import { siteSnapshot } from '../boot/site-snapshot.ts';
import { notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { errorResponses, json, router } from './openapi.ts';

const tags = ['relay'];
/** Long-poll bound: well under the idle timeouts of proxies and of Workers' clients. */
const MAX_WAIT_SECONDS = 30;
const POLL_INTERVAL_MS = 1000;

const SyncQuery = z.strictObject({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .meta({ description: `with If-None-Match: hold the request up to this many seconds until the snapshot changes (then 200), else 304` }),
});

interface Versioned {
  body: RelaySnapshot;
  etag: string;
}

async function versioned(db: SqlDatabase, siteId: string): Promise<Versioned> {
  const content = await siteSnapshot(db, siteId);
  if (!content) throw notFound('site');
  // The version hashes the content only (no timestamps), so an unchanged site keeps its ETag.
  const version = sha256Hex(JSON.stringify(content)).slice(0, 32);
  return { body: { version, ...content }, etag: `"${version}"` };
}

/**
 * Every successful mutation writes an audit row in its own transaction, so the newest audit id is a
 * global change stamp: one indexed lookup tells whether anything at all changed since the last look.
 */
async function changeStamp(db: SqlDatabase): Promise<number> {
  return (await db.first<{ id: number | null }>(sql('SELECT max(id) AS id FROM audit_log')))?.id ?? 0;
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly; `*` matches any current representation. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
      request: { query: SyncQuery, headers: z.object({ 'if-none-match': z.string().max(1024).optional() }) },
      responses: { 200: json(RelaySnapshot), 304: { description: 'unchanged (after the wait, if one was asked)' }, ...errorResponses },
    }),
    async (c) => {
      const { wait } = c.req.valid('query');
      const inm = c.req.header('if-none-match');
      const { db } = c.get('deps');
      const siteId = c.get('principal')!.siteIds![0]!;
      let stamp = await changeStamp(db);
      let current = await versioned(db, siteId);
      // Counted, not timed: Workers' clock only moves across I/O, and the loop must end regardless.
      for (let i = 0; wait !== undefined && i < (wait * 1000) / POLL_INTERVAL_MS && matches(inm, current.etag); i++) {
        await sleep(POLL_INTERVAL_MS);
        const next = await changeStamp(db);
        if (next === stamp) continue;
        stamp = next;
        current = await versioned(db, siteId);
      }
      c.header('etag', current.etag);
      c.header('cache-control', 'no-cache');
      if (matches(inm, current.etag)) return c.body(null, 304);
      return c.json(current.body, 200);
    },
  );
}
