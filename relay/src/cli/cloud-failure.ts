/**
 * What went wrong reaching the cloud, in the terms a technician checks in order: DNS, TCP, TLS,
 * then the HTTP answer. Reads the error chain undici and Node leave (`cause`, `code`).
 */
export type CloudFailureStage = 'dns' | 'tcp' | 'tls' | 'timeout' | 'other';

const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TCP = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EPIPE', 'EADDRNOTAVAIL', 'UND_ERR_SOCKET']);
const TIMEOUT = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ABORT_ERR']);
const TLS_CODE = /CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME_MISMATCH/;

/** Every error in the `cause` chain, outermost first. */
function chain(err: unknown): (Error & { code?: string; hostname?: string })[] {
  const out: (Error & { code?: string })[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 8; e = e.cause) {
    out.push(e as Error & { code?: string });
    if (e instanceof AggregateError) out.push(...(e.errors.filter((x) => x instanceof Error) as Error[]));
  }
  return out;
}

export function classifyCloudFailure(err: unknown): { stage: CloudFailureStage; code: string | null; detail: string } {
  const errs = chain(err);
  const coded = errs.find((e) => typeof e.code === 'string' && e.code !== 'UND_ERR_CONNECT' && e.code !== 'ERR_INVALID_STATE');
  const code = coded?.code ?? null;
  const detail = (coded ?? errs[errs.length - 1] ?? { message: String(err) }).message;
  if (code && DNS.has(code)) return { stage: 'dns', code, detail };
  if (code && TIMEOUT.has(code)) return { stage: 'timeout', code, detail };
  if (code && TCP.has(code)) return { stage: 'tcp', code, detail };
  if ((code && TLS_CODE.test(code)) || errs.some((e) => /certificate|ssl|tls/i.test(e.message))) return { stage: 'tls', code, detail };
  return { stage: 'other', code, detail };
}

/** One line: which URL, which stage failed, and what to check. */
export function describeCloudFailure(url: string, err: unknown): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const { stage, code, detail } = classifyCloudFailure(err);
  const why = `${code ? `${code}: ` : ''}${detail}`;
  switch (stage) {
    case 'dns':
      return `cannot reach the cloud at ${url}: DNS lookup of ${u.hostname} failed (${why}); check the name and this box's resolver (/etc/resolv.conf)`;
    case 'tcp':
      return `cannot reach the cloud at ${url}: TCP connection to ${u.hostname}:${port} failed (${why}); check the address, the port and any firewall or proxy on the way`;
    case 'timeout':
      return `cannot reach the cloud at ${url}: no answer from ${u.hostname}:${port} in time (${why}); a firewall may be dropping the traffic`;
    case 'tls':
      return `cannot reach the cloud at ${url}: TLS handshake with ${u.hostname} failed (${why}); check the box's clock and the certificate (cloud.ca_file for a private CA)`;
    default:
      return `cannot reach the cloud at ${url}: ${why}`;
  }
}

/** An HTTP answer that is not the expected one, with the cloud's own message when it sent one. */
export function describeHttpRefusal(url: string, status: number, body: unknown): string {
  const msg = (body as { error?: { message?: string } } | null)?.error?.message ?? (typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body)?.slice(0, 200));
  return `the cloud at ${url} answered HTTP ${status}${msg ? `: ${msg}` : ''}`;
}
