import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudClient } from '../sync/cloud-client.ts';
import { simple } from './image-cache.ts';

/** The cloud takes callback bodies up to its 64 KiB JSON limit (a failure's log tail is the largest). */
const MAX_BODY = 64 * 1024;

/**
 * `/v1/callback/*`: scripts rendered for the relay's fileBase point installers' callbacks at the
 * relay, which passes them to the cloud as they are (the per-boot callback token is the caller's
 * bearer; the relay adds nothing). Not retried: a callback is not known to be idempotent.
 */
export async function proxyCallback(client: CloudClient, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== 'POST') return simple(res, 405, 'callbacks are POST\n');
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
  try {
    const r = await client.request({ method: 'POST', path: `${url.pathname}${url.search}`, headers, body: Buffer.concat(chunks), auth: false, retry: false });
    const body = Buffer.from(await r.body.arrayBuffer());
    const type = r.headers['content-type'];
    res.writeHead(r.status, { 'content-length': body.length, ...(typeof type === 'string' ? { 'content-type': type } : {}) }).end(body);
  } catch {
    simple(res, 503, 'the cloud is unreachable; try the callback again later\n');
  }
}
