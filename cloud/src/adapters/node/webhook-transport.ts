import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { WebhookPost, WebhookPostResult, WebhookTransport } from '../../ports/webhook-transport.ts';
import { addressRefusal } from '../../webhooks/url-policy.ts';

/**
 * The webhook POST on Node and Deno (node:http and node:https both honour `lookup` on each).
 * The name is resolved here and every address it resolves to is checked against the policy; the
 * connection then goes to exactly those addresses, so a name that answers a public address when
 * checked and 127.0.0.1 when connecting (DNS rebinding) reaches nothing private.
 */
export function nodeWebhookTransport(): WebhookTransport {
  return { post };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function post(req: WebhookPost): Promise<WebhookPostResult> {
  return new Promise((resolve) => {
    const url = new URL(req.url);
    let settled = false;
    const chunks: Buffer[] = [];
    let kept = 0;
    let status = 0;
    const finish = (r: WebhookPostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(r);
    };
    const lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
      dnsLookup(hostname, { all: true }, (err, addresses) => {
        if (err) return callback(err, []);
        const refusal = addresses.map((a) => addressRefusal(a.address, req.policy)).find((why) => why !== null);
        if (refusal || addresses.length === 0) {
          const e: NodeJS.ErrnoException = new Error(`refused: ${hostname} resolves to ${refusal ?? 'no address'}`);
          e.code = 'EWEBHOOKREFUSED';
          return callback(e, []);
        }
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    };
    const request = (url.protocol === 'https:' ? https : http).request(
      {
        method: 'POST',
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
        lookup: lookup as never,
        agent: false,
      },
      (res) => {
        status = res.statusCode ?? 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < req.maxResponseBytes) {
            chunks.push(chunk.subarray(0, req.maxResponseBytes - kept));
            kept += Math.min(chunk.length, req.maxResponseBytes - kept);
          }
          // Enough kept for the log: the rest of an oversized answer is not read.
          if (kept >= req.maxResponseBytes) finish({ ok: true, status, response: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('end', () => finish({ ok: true, status, response: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => finish({ ok: true, status, response: `${Buffer.concat(chunks).toString('utf8')} [answer cut: ${err.message}]` }));
      },
    );
    const timer = setTimeout(
      () => finish(status ? { ok: true, status, response: `${Buffer.concat(chunks).toString('utf8')} [answer cut at the ${req.timeoutMs} ms limit]` } : { ok: false, error: `no answer within ${req.timeoutMs} ms` }),
      req.timeoutMs,
    );
    request.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code === 'EWEBHOOKREFUSED' ? err.message : `${err.code ?? 'error'}: ${err.message}`.slice(0, 300) }));
    request.end(req.body);
  });
}
