import type { Context } from 'hono';
import { asPrincipal } from '../auth/internal-principal.ts';
import { AppError, ERROR_STATUS, type ErrorCode, type Issue } from '../errors.ts';
import type { ConsoleEnv, ConsoleSession } from './session.ts';

/** The app's own fetch: console pages read and change everything through the API routes. */
export type AppFetch = (request: Request, env: unknown) => Response | Promise<Response>;

export interface ApiError {
  code: ErrorCode;
  status: number;
  message: string;
  issues: Issue[];
  requestId: string;
}

export type ApiResult<T> = { ok: true; status: number; data: T } | { ok: false; status: number; error: ApiError };

/**
 * Calls the API as the session's principal, in process: the request runs the API's middleware
 * (body limit, audit, authorization) and handler exactly as a bearer-token request would, so the
 * console can do nothing the same token could not do with curl, and its changes are audited alike.
 */
export function apiClient(c: Context<ConsoleEnv>, fetchApp: AppFetch, session: ConsoleSession) {
  const origin = new URL(c.req.url).origin;

  async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const headers = new Headers({ accept: 'application/json' });
    let payload: Uint8Array<ArrayBuffer> | undefined;
    if (body instanceof Uint8Array) {
      payload = body as Uint8Array<ArrayBuffer>;
      headers.set('content-type', 'application/octet-stream');
    } else if (body !== undefined) {
      payload = new TextEncoder().encode(JSON.stringify(body)) as Uint8Array<ArrayBuffer>;
      headers.set('content-type', 'application/json');
    }
    // Always a length: the body-limit middleware rebuilds a request without one, which would lose its principal.
    if (payload) headers.set('content-length', String(payload.byteLength));
    const req = asPrincipal(new Request(new URL(path, origin), { method, headers, body: payload }), session.principal);
    const res = await fetchApp(req, c.env);
    return toResult<T>(res);
  }

  return {
    call,
    /** A read the page cannot do without: a failure becomes the page's own error (404 stays 404). */
    async get<T>(path: string): Promise<T> {
      const r = await call<T>('GET', path);
      if (!r.ok) throw new AppError(r.error.code, r.error.message, { issues: r.error.issues });
      return r.data;
    },
    /** A read the page can do without (the audit log for a non-admin…): null when refused. */
    async tryGet<T>(path: string): Promise<T | null> {
      const r = await call<T>('GET', path);
      return r.ok ? r.data : null;
    },
    /** Forwards a browser's request (the upload script's) to an API path, body streamed as it comes. */
    async forward(path: string, raw: Request): Promise<Response> {
      const headers = new Headers({ accept: 'application/json' });
      for (const h of ['content-type', 'content-length']) {
        const v = raw.headers.get(h);
        if (v !== null) headers.set(h, v);
      }
      const hasBody = raw.method !== 'GET' && raw.method !== 'HEAD';
      const init: RequestInit & { duplex?: 'half' } = { method: raw.method, headers, body: hasBody ? raw.body : undefined };
      if (hasBody && raw.body) init.duplex = 'half';
      return await fetchApp(asPrincipal(new Request(new URL(path, origin), init), session.principal), c.env);
    },
  };
}

export type Api = ReturnType<typeof apiClient>;

async function toResult<T>(res: Response): Promise<ApiResult<T>> {
  const text = res.status === 204 ? '' : await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below as an error without details.
  }
  if (res.ok) return { ok: true, status: res.status, data: parsed as T };
  const e = (parsed as { error?: Partial<ApiError> } | null)?.error;
  const code = e?.code && e.code in ERROR_STATUS ? e.code : 'internal';
  return {
    ok: false,
    status: res.status,
    error: { code, status: res.status, message: e?.message ?? `HTTP ${res.status}`, issues: e?.issues ?? [], requestId: e?.requestId ?? '' },
  };
}
