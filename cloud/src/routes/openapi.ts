import { z } from 'zod';
import { OpenAPIHono } from '@hono/zod-openapi';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';

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

/**
 * A router whose validation failures become `validation_failed` errors with one issue per field,
 * instead of zod-openapi's default 400 body.
 */
export function router<E extends AppEnv = AppEnv>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new AppError('validation_failed', `invalid ${result.target}`, {
          issues: result.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
        });
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
