import { z } from 'zod';
import { OpenAPIHono } from '@hono/zod-openapi';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import type { AppEnv } from '../context.ts';
import { AppError, type Issue } from '../errors.ts';

/** A JSON response or request body entry for a route definition. */
export function json<T extends z.ZodType>(schema: T, description = 'OK') {
  return { description, content: { 'application/json': { schema } } } as const;
}

export function body<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
}

/** The error responses every authenticated route can give. */
export const errorResponses = {
  400: json(ErrorEnvelope, 'bad input'),
  401: json(ErrorEnvelope, 'missing or invalid token'),
  403: json(ErrorEnvelope, 'the token may not do this'),
  404: json(ErrorEnvelope, 'no such object (or not visible to this token)'),
} as const;

export const IdParams = z.object({ id: z.string().min(1).max(64) });

/** What a validation target is called in a message for people. */
const TARGET_NAMES: Record<string, string> = { json: 'request body', query: 'query', param: 'path', header: 'headers', form: 'form', cookie: 'cookies' };

/**
 * zod's issues as the envelope lists them: one per field, the path dotted. An unknown key becomes
 * one issue per key whose path names the key itself ("selector.hostname: unknown field"), so a
 * client sees which field to drop instead of a complaint about the object around it.
 */
export function issuesOf(error: z.ZodError): Issue[] {
  const out: Issue[] = [];
  for (const i of error.issues) {
    const base = i.path.map(String);
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: [...base, k].join('.'), message: 'unknown field' });
    } else {
      out.push({ path: base.join('.') || '(root)', message: i.message });
    }
  }
  return out.slice(0, 20);
}

/** "invalid request body: selector.hostname: unknown field (and 2 more problems)". */
export function validationMessage(target: string, issues: readonly Issue[]): string {
  const where = TARGET_NAMES[target] ?? target;
  const first = issues[0];
  if (!first) return `invalid ${where}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return `invalid ${where}: ${first.path === '(root)' ? '' : `${first.path}: `}${first.message}${more}`;
}

/**
 * A router whose validation failures become `validation_failed` errors with one issue per field,
 * instead of zod-openapi's default 400 body. The message names the first field and its problem.
 */
export function router<E extends AppEnv = AppEnv>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = issuesOf(result.error);
        throw new AppError('validation_failed', validationMessage(result.target, issues), { issues });
      }
    },
  });
}

/**
 * One page of a keyset-paged list. The query asked for `limit + 1` rows: the extra row is not
 * returned, it only says that a next page exists, which starts after the last item's id.
 */
export function keysetPage<R, T extends { id: string | number }>(rows: readonly R[], limit: number, toItem: (r: R) => T): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit).map(toItem);
  return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
}
