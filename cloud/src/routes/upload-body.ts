import type { Context } from 'hono';
import type { Sha256 } from '../../../shared/crypto/sha256.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';

/** Workers' request body limit on the Free and Pro plans (100 MB, decimal). */
export const DEFAULT_MAX_UPLOAD_BYTES = 100_000_000;

/**
 * The declared length of an upload request. Required (411): stores need the length before the
 * first byte (R2 refuses streams of unknown length), and the limit must be checked up front (413).
 */
export function uploadLength(c: Context<AppEnv>): number {
  const header = c.req.header('content-length');
  if (header === undefined) throw new AppError('length_required', 'an upload needs a Content-Length header (chunked bodies are not accepted)');
  if (!/^\d{1,16}$/.test(header)) throw new AppError('bad_request', 'Content-Length is not a byte count');
  const size = Number(header);
  const max = c.get('deps').maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  if (size > max) {
    throw new AppError('payload_too_large', `${size} bytes is over this deployment's ${max}-byte limit per request; use a multipart upload (POST /v1/images/{id}/uploads)`);
  }
  return size;
}

/**
 * Streams the request body into `write` (a store upload) while feeding `hash`, refusing a body that
 * is not exactly `size` bytes. Nothing is buffered: each chunk is hashed (and shown to `tap`) and passed on.
 */
export async function hashedBody<T>(
  c: Context<AppEnv>,
  size: number,
  hash: Sha256,
  write: (body: ReadableStream<Uint8Array>) => Promise<T>,
  /** Also sees every chunk (the image's first bytes are kept for the sniffer this way). */
  tap?: { update(chunk: Uint8Array): void },
): Promise<T> {
  let seen = 0;
  let mismatch: AppError | null = null;
  const meter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      seen += chunk.byteLength;
      if (seen > size) throw (mismatch = new AppError('size_mismatch', `the body is longer than the ${size} bytes declared`));
      hash.update(chunk);
      tap?.update(chunk);
      ctl.enqueue(chunk);
    },
    flush() {
      if (seen !== size) throw (mismatch = new AppError('size_mismatch', `the body has ${seen} bytes, ${size} declared`));
    },
  });
  const body = c.req.raw.body ?? new Blob([]).stream();
  try {
    return await write(body.pipeThrough(meter));
  } catch (err) {
    // The store reports our stream's error in its own words; say what really happened.
    throw mismatch ?? err;
  }
}
