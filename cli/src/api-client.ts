/**
 * The CLI's only way to the API: bearer token, JSON in and out, and every failure turned into a
 * CliError whose exit code says what kind of failure it was (exit-codes.ts) and whose text carries
 * the API's own message and request id, so a person can act on it and an admin can find it in
 * the logs.
 */
import type { Connection } from './config.ts';
import { CliError } from './errors.ts';
import { EXIT, exitCodeForStatus } from './exit-codes.ts';

export type Query = Record<string, string | number | boolean | readonly string[] | undefined | null>;

export interface ApiIssue {
  path: string;
  message: string;
}

/** An error answer of the API: its envelope, its HTTP status. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly issues: ApiIssue[];

  constructor(status: number, code: string, message: string, requestId: string | null, issues: ApiIssue[], hint?: string) {
    const details = issues.map((i) => `  ${i.path}: ${i.message}`);
    if (requestId) details.push(`request id: ${requestId}`);
    super(exitCodeForStatus(status), `${message} (HTTP ${status} ${code})`, { hint: hint ?? hintFor(status), details });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.issues = issues;
  }
}

/** The API could not be reached at all (refused, reset, DNS, timeout): worth retrying. */
export class NetworkError extends CliError {
  constructor(url: string, cause: unknown) {
    super(EXIT.UNAVAILABLE, `cannot reach ${url}: ${describeCause(cause)}`, {
      hint: 'check that the control plane is running and the URL is right (`edgeboot status`)',
    });
    this.name = 'NetworkError';
  }
}

function hintFor(status: number): string | undefined {
  if (status === 401) return 'the token was refused (wrong, expired or revoked): run `edgeboot login --url URL --token TOKEN` with a valid one';
  if (status === 403) return "this token's role or sites do not allow it; ask an admin for a token that does";
  if (status === 404) return 'check the id or name (the `list` command of that resource shows what this token can see)';
  if (status >= 500) return 'the server failed; retry later, and quote the request id when reporting it';
  return undefined;
}

export function describeCause(err: unknown): string {
  // Node's fetch wraps the socket error: "fetch failed" with the interesting part in `cause`.
  let e = err as { message?: string; code?: string; cause?: unknown; name?: string } | undefined;
  const parts: string[] = [];
  for (let depth = 0; e && depth < 4; depth++) {
    if (e.name === 'TimeoutError') return 'timed out';
    const text = e.code && !String(e.message ?? '').includes(e.code) ? `${e.message ?? ''} (${e.code})` : (e.message ?? String(e));
    if (text && text !== 'fetch failed') parts.push(text.trim());
    e = e.cause as typeof e;
  }
  return parts.join(': ') || 'network error';
}

const USER_AGENT = 'edgeboot-cli/0.1';
/** JSON calls are small: one that hangs this long has failed. Streams set no overall limit. */
const JSON_TIMEOUT_MS = 60_000;

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  body?: BodyInit | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class ApiClient {
  readonly url: string;
  readonly #token: string;

  constructor(conn: Pick<Connection, 'url' | 'token'>) {
    this.url = conn.url;
    this.#token = conn.token;
  }

  urlFor(path: string, query?: Query): string {
    const u = new URL(`${this.url}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) u.searchParams.append(k, item);
      else u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  /** The raw response of a call, any status; network failures become NetworkError. */
  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, 'user-agent': USER_AGENT, accept: 'application/json', ...opts.headers };
    let body = opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    const streaming = body instanceof ReadableStream;
    const signal = opts.signal ?? (streaming ? undefined : AbortSignal.timeout(JSON_TIMEOUT_MS));
    try {
      // Node's fetch sends a stream body only when told it is half-duplex (Fetch spec, `duplex`).
      return await fetch(this.urlFor(path, opts.query), { method, headers, body, signal, ...(streaming ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (err) {
      if ((err as Error).name === 'AbortError' && opts.signal?.aborted) throw err;
      throw new NetworkError(this.url, err);
    }
  }

  /** Calls the API and returns the parsed JSON body (undefined for 204); errors throw ApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(method, path, opts);
    return (await readJson(res)) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }
  post<T>(path: string, json?: unknown): Promise<T> {
    return this.request<T>('POST', path, { json });
  }
  patch<T>(path: string, json: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { json });
  }
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /**
   * Every item of a paged list, following `nextCursor` (500 per request, the API's maximum),
   * stopping at `max` items when given.
   */
  async list<T>(path: string, query: Query = {}, max = Infinity): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    do {
      const limit = Math.min(500, max - out.length);
      const page: Page<T> = await this.get<Page<T>>(path, { ...query, limit, cursor });
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null && out.length < max);
    return out;
  }
}

/** A response's JSON, or the ApiError its error envelope describes. */
export async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (res.ok) {
    if (text && parsed === undefined) throw new CliError(EXIT.ERROR, `the API answered ${res.status} with a body that is not JSON`, { hint: 'is the URL that of an edgeboot control plane?' });
    return parsed;
  }
  const env = (parsed as { error?: { code?: unknown; message?: unknown; requestId?: unknown; issues?: unknown } } | undefined)?.error;
  const requestId = typeof env?.requestId === 'string' ? env.requestId : res.headers.get('x-request-id');
  if (env && typeof env.code === 'string' && typeof env.message === 'string') {
    const issues = Array.isArray(env.issues) ? (env.issues as ApiIssue[]).filter((i) => i && typeof i.path === 'string') : [];
    throw new ApiError(res.status, env.code, env.message, requestId, issues);
  }
  // Not our envelope: a proxy, a load balancer, or not edgeboot at all.
  throw new ApiError(res.status, `http_${res.status}`, `the server answered ${res.status} ${res.statusText || ''}`.trim(), requestId, [],
    res.status === 404 ? 'is the URL that of an edgeboot control plane? (`edgeboot status`)' : undefined);
}
