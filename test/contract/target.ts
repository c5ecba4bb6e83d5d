/**
 * The API contract suite talks to the control plane only through `fetch`, so the same cases run
 * in-process, inside workerd (D1/R2), and over HTTP against the Deno and Node entries.
 * This file is imported inside workerd too: Web-standard APIs only.
 */
export interface ApiTarget {
  /** Column name shown in test titles. */
  name: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** A token with the admin role on this target. */
  adminToken: string;
}

export interface CallOptions {
  token?: string | null;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

export interface CallResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Calls the API; `token` defaults to the admin token, `null` sends none. */
export async function call<T = any>(t: ApiTarget, method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? t.adminToken : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await t.fetch(path, { method, headers, body });
  // Decoded by hand: workerd warns on every .text() of a binary (image) body.
  const text = new TextDecoder().decode(await res.arrayBuffer());
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** A name no other test in this run uses (targets are shared across cases). */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A random locally administered unicast MAC. */
export function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Asserts the error envelope shape and returns the code. */
export function errorCode(r: CallResult): string {
  const e = (r.body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } })?.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.requestId !== 'string') {
    throw new Error(`not an error envelope (status ${r.status}): ${r.text.slice(0, 300)}`);
  }
  return e.code;
}
