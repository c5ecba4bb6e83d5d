/** @jsxImportSource hono/jsx */
import type { Context, Hono } from 'hono';
import type { Issue } from '../errors.ts';
import { apiClient, type Api, type ApiResult, type AppFetch } from './api.ts';
import { ErrorPage } from './catalog-pages.tsx';
import type { FormState } from './fleet-pages.tsx';
import type * as forms from './forms.ts';
import type { ConsoleEnv, ConsoleSession } from './session.ts';

/**
 * What every page module of the console shares: the signed-in session, the API client acting as it,
 * the parsed form, and the one way to answer with a page or an error page. Each resource's routes
 * (sites-pages.tsx, machines-pages.tsx, …) are registered from consoleRoutes with one Kit.
 */
export type C = Context<ConsoleEnv>;
export type Page<T> = { items: T[]; nextCursor: string | null };
export type Refusal = Extract<ApiResult<unknown>, { ok: false }>;
export type ConsoleRouter = Hono<ConsoleEnv>;

export const enc = encodeURIComponent;

export function html(c: C, node: unknown, status = 200): Response {
  return c.html(`<!doctype html>${String(node)}`, status as 200);
}

export const formOf = (c: C): forms.FormData => c.get('form') ?? {};

/** What the person typed, to put back into the form next to the problems. */
export function echo(f: forms.FormData): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f)) {
    if (k === '_csrf') continue;
    const vs = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    out[k] = vs.join('\n').slice(0, 300_000);
  }
  return out;
}

export function refused(r: Refusal, f: forms.FormData): FormState {
  return { message: r.error.message, issues: r.error.issues, values: echo(f) };
}

export function kit(fetchApp: AppFetch) {
  const session = (c: C): ConsoleSession => c.get('session')!;
  const errorPage = (c: C, status: number, message: string, issues: Issue[]): Response =>
    html(c, <ErrorPage session={c.get('session') ?? null} status={status} message={message} issues={issues} requestId={c.get('requestId')} />, status);
  return {
    session,
    api: (c: C): Api => apiClient(c, fetchApp, session(c)),
    now: (c: C) => c.get('deps').clock.now(),
    cursorQuery: (c: C) => {
      const cur = c.req.query('cursor');
      return cur ? `&cursor=${enc(cur)}` : '';
    },
    /** `?ok=…` after a redirect: the fixed message it names (layout.tsx DONE). */
    ok: (c: C) => c.req.query('ok'),
    first: (c: C) => !c.req.query('cursor'),
    errorPage,
    apiErrorPage: (c: C, res: Refusal) => errorPage(c, res.status, res.error.message, res.error.issues),
    notFoundPage: (c: C, message: string) => errorPage(c, 404, message, []),
  };
}
export type Kit = ReturnType<typeof kit>;
