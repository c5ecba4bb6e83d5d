import type { WebhookPost, WebhookPostResult, WebhookTransport } from '../ports/webhook-transport.ts';

/**
 * The webhook POST with Web `fetch`, for Workers: no redirects followed (a 3xx is a failed attempt,
 * so a receiver cannot bounce the request to another host), one deadline for the whole exchange,
 * and no more of the answer read than the log keeps. Workers cannot resolve names, so only the
 * URL's literal address is checked (engine.ts, before this is called); Cloudflare's egress is the
 * public internet, not the network the control plane's data lives in.
 */
export function fetchWebhookTransport(fetcher: typeof fetch = fetch): WebhookTransport {
  return {
    async post(req: WebhookPost): Promise<WebhookPostResult> {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), req.timeoutMs);
      let status = 0;
      let text = '';
      try {
        const res = await fetcher(req.url, { method: 'POST', headers: req.headers, body: req.body, redirect: 'manual', signal: abort.signal });
        status = res.status;
        const reader = res.body?.getReader();
        const decoder = new TextDecoder();
        let kept = 0;
        while (reader && kept < req.maxResponseBytes) {
          const { done, value } = await reader.read();
          if (done) break;
          const part = value.subarray(0, req.maxResponseBytes - kept);
          kept += part.length;
          text += decoder.decode(part, { stream: true });
        }
        await reader?.cancel().catch(() => {});
        return { ok: true, status, response: text };
      } catch (err) {
        if (status) return { ok: true, status, response: `${text} [answer cut at the ${req.timeoutMs} ms limit]` };
        return { ok: false, error: abort.signal.aborted ? `no answer within ${req.timeoutMs} ms` : String((err as Error).message ?? err).slice(0, 300) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
