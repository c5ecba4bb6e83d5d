import type { Context } from 'hono';
import { decideRange } from '../../../shared/http/range.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';
import type { ImageRow } from './image-records.ts';

/** An image whose bytes are stored: the only kind either download route serves. */
export type ReadyImage = ImageRow & { status: 'ready'; size: number; sha256: string };

export function assertReady(row: ImageRow): asserts row is ReadyImage {
  if (row.status !== 'ready' || row.size === null || row.sha256 === null) throw new AppError('conflict', 'the image has no content yet');
}

/** The sha256 names the bytes on every store; a store's own etag differs between R2, S3 and disk. */
export const etagOf = (row: ReadyImage): string => `"${row.sha256}"`;

/**
 * The answer to a GET or HEAD of an image's bytes, shared by the admin download and the signed
 * `/v1/files` route: ETag and If-None-Match (304), Range (206) and If-Range, 416 for a range that
 * selects nothing, and the body streamed from the store, never buffered.
 */
export async function imageResponse(c: Context<AppEnv>, row: ReadyImage): Promise<Response> {
  const size = row.size;
  const etag = etagOf(row);
  const headers: Record<string, string> = {
    etag,
    'accept-ranges': 'bytes',
    'content-type': row.content_type,
    'cache-control': 'private, max-age=0, must-revalidate',
  };
  if (matchesEtag(c.req.header('if-none-match'), etag)) return new Response(null, { status: 304, headers });
  // If-Range (RFC 9110 §13.1.5): a stale validator means "send it all".
  const ifRange = c.req.header('if-range');
  const decision = decideRange(ifRange !== undefined && ifRange !== etag ? null : c.req.header('range'), size);
  if (decision.kind === 'unsatisfiable') {
    throw new AppError('range_not_satisfiable', `the image has ${size} bytes`, { headers: { 'content-range': decision.contentRange } });
  }
  const partial = decision.kind === 'partial';
  if (partial) headers['content-range'] = decision.contentRange;
  headers['content-length'] = String(partial ? decision.length : size);
  const status = partial ? 206 : 200;
  if (c.req.method === 'HEAD') return new Response(null, { status, headers });
  const obj = await c.get('deps').objects.get(row.object_key, partial ? { offset: decision.offset, length: decision.length } : undefined);
  if (!obj) throw new AppError('internal', 'the image is ready but its object is missing from the store');
  return new Response(obj.body, { status, headers });
}

/** If-None-Match (RFC 9110 §13.1.2): weak comparison, any tag in the list, or `*`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const v = t.trim().replace(/^W\//, '');
    return v === '*' || v === etag;
  });
}
