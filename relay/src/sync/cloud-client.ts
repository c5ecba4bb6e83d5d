import type { Dispatcher } from 'undici';
import { Pool } from './undici-pool.ts';
import { backoffMs, sleep } from './backoff.ts';

/**
 * The relay's one connection pool to the cloud (undici): keep-alive connections reused by sync,
 * event shipping, the script proxy and image fills, with a timeout on every phase so a half-dead WAN
 * link fails fast instead of hanging a boot. Idempotent requests are retried on network errors and
 * 5xx with jittered backoff; callers that stream (image fills) ask for no retry and resume themselves.
 */
export interface CloudClientOptions {
  /** https://cloud.example (a path prefix is kept). */
  baseUrl: string;
  /** The relay token, sent as a bearer; null before enrollment. */
  token: string | null;
  connections?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Extra attempts after the first, for retryable requests. */
  retries?: number;
  /** PEM CA bundle for a cloud behind a private CA. */
  ca?: string;
  userAgent?: string;
}

export interface CloudRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, from the cloud's root: `/v1/relay/sync?wait=25`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Default: true for GET/HEAD, false otherwise. */
  retry?: boolean;
  /** Send the relay token (default true; signed file URLs need none). */
  auth?: boolean;
  /** Overrides the pool's headers timeout (long-poll). */
  headersTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface CloudResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export class CloudUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CloudUnreachableError';
  }
}

export interface CloudClient {
  request(req: CloudRequest): Promise<CloudResponse>;
  /** A JSON body and status; throws CloudUnreachableError when no answer came. */
  json<T = unknown>(req: CloudRequest & { json?: unknown }): Promise<{ status: number; headers: CloudResponse['headers']; body: T }>;
  /** Whether the last request got any HTTP answer (even an error status) from the cloud. */
  readonly reachable: boolean;
  readonly origin: string;
  close(): Promise<void>;
}

export function header(h: CloudResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export function createCloudClient(opts: CloudClientOptions): CloudClient {
  const url = new URL(opts.baseUrl);
  const prefix = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, {
    connections: opts.connections ?? 16,
    connect: { timeout: opts.connectTimeoutMs ?? 5_000, ...(opts.ca ? { ca: opts.ca } : {}) },
    headersTimeout: opts.headersTimeoutMs ?? 15_000,
    bodyTimeout: opts.bodyTimeoutMs ?? 30_000,
    keepAliveTimeout: 30_000,
  });
  const retries = opts.retries ?? 2;
  let reachable = false;
  let closing = false;

  async function request(req: CloudRequest): Promise<CloudResponse> {
    const retry = req.retry ?? (req.method === 'GET' || req.method === 'HEAD');
    const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? 'edgeboot-relay', ...req.headers };
    if (req.auth !== false && opts.token) headers.authorization = `Bearer ${opts.token}`;
    for (let attempt = 0; ; attempt++) {
      const last = !retry || attempt >= retries;
      try {
        const res = await pool.request({
          method: req.method,
          path: `${prefix}${req.path}`,
          headers,
          body: req.body,
          signal: req.signal,
          ...(req.headersTimeoutMs !== undefined ? { headersTimeout: req.headersTimeoutMs } : {}),
        });
        reachable = true;
        if (res.statusCode >= 500 && !last) {
          await res.body.dump();
        } else {
          return { status: res.statusCode, headers: res.headers, body: res.body };
        }
      } catch (err) {
        if (req.signal?.aborted || closing) throw err;
        reachable = false;
        if (last) throw new CloudUnreachableError(`cloud ${url.origin} unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (!(await sleep(200 + backoffMs(attempt, 250, 2_000), req.signal))) throw new CloudUnreachableError('aborted');
    }
  }

  return {
    request,
    async json<T>(req: CloudRequest & { json?: unknown }) {
      const body = req.json === undefined ? req.body : JSON.stringify(req.json);
      const headers = { accept: 'application/json', ...(req.json === undefined ? {} : { 'content-type': 'application/json' }), ...req.headers };
      const res = await request({ ...req, headers, body });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // left as text: the caller reports the status with it
      }
      return { status: res.status, headers: res.headers, body: parsed as T };
    },
    get reachable() {
      return reachable;
    },
    origin: url.origin,
    async close() {
      closing = true;
      await pool.destroy();
    },
  };
}
