/**
 * The real control plane (createApp over SQLite and the in-memory object store) behind a real
 * node:http server on 127.0.0.1, which a test can stop (a WAN cut: the port refuses connections)
 * and start again on the same port with the same database. It logs the requests it received and
 * can cut or slow image downloads, to test the relay's fills against a misbehaving WAN.
 */
import { inProcessSiteSync } from '../../../cloud/src/sync/in-process.ts';
import { serve, type HttpBindings, type Http2Bindings, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../../cloud/src/app.ts';
import { memoryObjectStore } from '../../../cloud/src/adapters/memory-object-store.ts';
import { migrateSqlite, openSqlite } from '../../../cloud/src/adapters/node/sqlite.ts';
import type { AppDeps } from '../../../cloud/src/context.ts';
import { sql } from '../../../cloud/src/ports/sql-database.ts';
import { enrollmentCode } from '../../contract/fixtures.ts';
import { call, randomMac, unique, type ApiTarget } from '../../contract/target.ts';
import type { Credentials } from '../../../relay/src/sync/credentials.ts';

export interface SeenRequest {
  method: string;
  path: string;
  range: string | null;
  bodyBytes: number;
}

export interface TestCloud extends ApiTarget {
  url: string;
  deps: AppDeps;
  requests: SeenRequest[];
  /** The next image download stops (connection reset) after this many body bytes. */
  cutNextFileAfter(bytes: number): void;
  /** Image downloads send 64 KiB every `ms` (0: full speed). */
  slowFiles(ms: number): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestCloud(): Promise<TestCloud> {
  const db = openSqlite(':memory:');
  migrateSqlite(db.raw);
  const adminToken = 'ebt_relaytestadmintoken000000000000';
  // The relays' sync hub, as the Node entry builds it: long-polls held, changes wake them.
  const deps: AppDeps = { db, objects: memoryObjectStore(), clock: { now: () => Date.now() }, bootstrapAdminToken: adminToken, siteChanges: inProcessSiteSync({ db }) };
  const app = createApp(deps);
  const requests: SeenRequest[] = [];
  let cutAfter: number | null = null;
  let slowMs = 0;

  const handler = async (req: Request, env: HttpBindings | Http2Bindings): Promise<Response> => {
    const u = new URL(req.url);
    const body = req.method === 'POST' ? await req.arrayBuffer() : null;
    requests.push({ method: req.method, path: `${u.pathname}${u.search}`, range: req.headers.get('range'), bodyBytes: body?.byteLength ?? 0 });
    const res = await app.fetch(body ? new Request(req, { body }) : req);
    if (!u.pathname.startsWith('/v1/files/') || !res.body || (cutAfter === null && slowMs === 0)) return res;
    const limit = cutAfter;
    cutAfter = null;
    return new Response(shape(res.body, limit, slowMs, env.incoming.socket as import('node:net').Socket), { status: res.status, headers: res.headers });
  };

  let server: ServerType | null = null;
  let port = 0;
  const start = () =>
    new Promise<void>((resolve) => {
      server = serve({ fetch: handler, hostname: '127.0.0.1', port }, (info: AddressInfo) => {
        port = info.port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server as unknown as import('node:http').Server | null;
      server = null;
      if (!s) return resolve();
      s.close(() => resolve());
      s.closeAllConnections();
    });
  await start();
  const url = `http://127.0.0.1:${port}`;
  return {
    name: 'relay-test-cloud',
    adminToken,
    url,
    deps,
    requests,
    fetch: (path, init) => fetch(`${url}${path}`, init),
    cutNextFileAfter: (n) => void (cutAfter = n),
    slowFiles: (ms) => void (slowMs = ms),
    start,
    stop,
    // The in-memory database is left to the GC: a long-poll handler may still be looping on it
    // for up to a second after its connection went away, and would log errors on a closed handle.
    close: stop,
  };
}

/**
 * Re-chunks a body into 64 KiB pieces, paced and/or cut off after `limit` bytes. The cut destroys
 * the TCP connection, like a WAN link going away (an error in the stream alone would make the
 * server write its message into the body).
 */
function shape(body: ReadableStream<Uint8Array>, limit: number | null, slowMs: number, socket: import('node:net').Socket): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = 0;
  let pending: Uint8Array = new Uint8Array(0);
  return new ReadableStream({
    async pull(controller) {
      if (pending.length === 0) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        pending = value;
      }
      let piece = pending.subarray(0, 64 * 1024);
      if (limit !== null && sent + piece.length > limit) piece = piece.subarray(0, limit - sent);
      if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
      if (piece.length > 0) controller.enqueue(piece);
      sent += piece.length;
      pending = pending.subarray(piece.length);
      if (limit !== null && sent >= limit) {
        await new Promise((r) => setTimeout(r, 20));
        socket.destroy();
        await reader.cancel();
        controller.error(new Error('test: WAN cut mid-transfer'));
      }
    },
  });
}

async function ok(r: Promise<{ status: number; text: string; body: any }>, status: number, what: string): Promise<any> {
  const x = await r;
  if (x.status !== status) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body;
}

export async function createSite(t: ApiTarget): Promise<string> {
  return (await ok(call(t, 'POST', '/v1/sites', { json: { name: unique('relay-site') } }), 201, 'site')).id;
}

export { enrollmentCode };

/** Enrolls through the API and returns what `edgeboot-relay enroll` would have saved. */
export async function enrolledCredentials(cloud: TestCloud, siteId: string): Promise<Credentials> {
  const code = await enrollmentCode(cloud, siteId);
  const e = await ok(call(cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('relay') } }), 201, 'enroll');
  return { cloudUrl: cloud.url, relayId: e.relay.id, siteId, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() };
}

export async function uploadImage(t: ApiTarget, bytes: Uint8Array): Promise<{ id: string; sha256: string; objectKey: string }> {
  const img = await ok(call(t, 'POST', '/v1/images', { json: { name: unique('img') } }), 201, 'image');
  const put = await ok(
    call(t, 'PUT', `/v1/images/${img.id}/content`, { body: bytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }),
    200,
    'image content',
  );
  return { id: img.id, sha256: put.sha256, objectKey: '' };
}

/** Replaces an image's stored bytes behind the cloud's back (its recorded sha256 stays): a corrupt upstream. */
export async function corruptImage(cloud: TestCloud, imageId: string, bytes: Uint8Array): Promise<void> {
  const row = await cloud.deps.db.first<{ object_key: string }>(sql('SELECT object_key FROM images WHERE id = ?', imageId));
  await cloud.deps.objects.put(row!.object_key, new Blob([bytes as unknown as BlobPart]).stream(), { size: bytes.length, contentType: 'application/octet-stream' });
}

/** A machine at the site that netboots a linux profile with these images (kernel first). */
export async function bootableMachine(t: ApiTarget, siteId: string, imageIds: string[], mac = randomMac()): Promise<{ mac: string; profileId: string }> {
  const [kernel, ...initrds] = imageIds;
  const profile = await ok(call(t, 'POST', '/v1/profiles', { json: { name: unique('linux'), spec: { kind: 'linux', kernel, initrds, cmdline: 'console=ttyS0 edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}}' } } }), 201, 'profile');
  await ok(call(t, 'POST', '/v1/machines', { json: { mac, siteId, arch: 'bios' } }), 201, 'machine');
  await ok(call(t, 'POST', '/v1/assignments', { json: { profileId: profile.id, selector: { mac } } }), 201, 'assignment');
  return { mac, profileId: profile.id };
}

export function randomBytesOf(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}
