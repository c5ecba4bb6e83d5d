import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeMac } from '../../../shared/mac.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { rewriteFileUrls, type FileUrlDeps } from './file-urls.ts';
import { simple } from './image-cache.ts';

/** The cloud takes callback bodies up to its 64 KiB JSON limit (a failure's log tail is the largest). */
const MAX_BODY = 64 * 1024;
/** Answer files are GETs (`/v1/callback/files/<token>/<name>`); everything else under the prefix is POST. */
const ANSWER_FILE = /^\/v1\/callback\/files\/[^/]+\/[^/]+$/;

export interface CallbackProxyDeps extends FileUrlDeps {
  client: CloudClient;
}

/**
 * `/v1/callback/*`: scripts rendered for the relay's fileBase point installers' callbacks at the
 * relay, which passes them to the cloud as they are (the per-boot callback token is the caller's
 * bearer; the relay adds nothing). Not retried: a callback is not known to be idempotent.
 *
 * One rewrite: the imager's job (`POST /v1/callback/job`) carries the disk image's signed URL,
 * which becomes a grant for this relay's image cache, as in scripts, so every machine imaging the
 * same image shares one upstream fetch.
 */
export async function proxyCallback(d: CallbackProxyDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const isFile = ANSWER_FILE.test(url.pathname);
  if (isFile ? req.method !== 'GET' : req.method !== 'POST') return simple(res, 405, isFile ? 'answer files are GET\n' : 'callbacks are POST\n');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return simple(res, 413, 'callback body over 64 KiB\n');
    chunks.push(c);
  }
  const headers: Record<string, string> = {};
  for (const h of ['authorization', 'content-type']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  let status: number;
  let body: Buffer;
  let type: string | undefined;
  try {
    const r = await d.client.request({ method: isFile ? 'GET' : 'POST', path: `${url.pathname}${url.search}`, headers, body: isFile ? undefined : Buffer.concat(chunks), auth: false, retry: false });
    status = r.status;
    body = Buffer.from(await r.body.arrayBuffer());
    const t = r.headers['content-type'];
    type = typeof t === 'string' ? t : undefined;
  } catch {
    return simple(res, 503, 'the cloud is unreachable; try the callback again later\n');
  }
  if (url.pathname === '/v1/callback/job' && status === 200) body = jobForClient(d, body, req.socket.remoteAddress ?? '');
  res.writeHead(status, { 'content-length': body.length, 'cache-control': 'no-store', ...(type ? { 'content-type': type } : {}) }).end(body);
}

/** The job with its image URL turned into a cache grant for the imager that asked (its MAC is in the job). */
function jobForClient(d: FileUrlDeps, body: Buffer, ip: string): Buffer {
  const text = body.toString('utf8');
  let mac: string | null = null;
  try {
    const job = JSON.parse(text) as { mac?: unknown };
    mac = typeof job.mac === 'string' ? normalizeMac(job.mac) : null;
  } catch {
    // Not JSON: passed on as the cloud sent it.
  }
  return mac === null ? body : Buffer.from(rewriteFileUrls(d, text, mac, ip));
}
