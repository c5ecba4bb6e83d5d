import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/**
 * A fetch that sends a streamed request body with the Content-Length it was given. Deno's fetch drops
 * that header for ReadableStream bodies and sends them chunked (denoland/deno#24197), and R2/S3
 * refuse a PUT of unknown length; node:http (also in Deno) sends the header as set.
 * Only what the S3 adapter uses: method, headers, a body stream, status, headers and body back.
 */
export async function lengthPreservingFetch(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => (headers[k] = v));
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const out = send(url, { method: req.method, headers }, resolve);
    out.on('error', reject);
    if (!req.body) {
      out.end();
      return;
    }
    const body = Readable.fromWeb(req.body as never);
    body.on('error', (err) => {
      out.destroy(err);
      reject(err);
    });
    body.pipe(out);
  });
  const responseHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
  const noBody = req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
  if (noBody) res.resume();
  return new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: res.statusCode ?? 502, headers: responseHeaders });
}
