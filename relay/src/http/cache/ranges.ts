import type { IncomingMessage, ServerResponse } from 'node:http';
import { decideRange } from '../../../../shared/http/range.ts';

/** The bytes [start, end) a response carries. */
export interface Span {
  start: number;
  end: number;
}

/**
 * Writes the status and headers for GET/HEAD of an object, honouring Range (RFC 9110 §14, one range,
 * shared/http/range.ts) and If-Range: a client resuming with the ETag of other bytes gets the whole
 * object (§13.1.5), never a splice of two. The ETag is the sha256, the same the cloud sends. Returns
 * the span to send, or null when the answer is already complete (416).
 */
export function startResponse(req: IncomingMessage, res: ServerResponse, sha256: string, size: number): Span | null {
  const etag = `"${sha256}"`;
  const ifRange = req.headers['if-range'];
  const d = decideRange(ifRange !== undefined && ifRange !== etag ? null : req.headers.range, size);
  const h = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
  if (d.kind === 'unsatisfiable') {
    res.writeHead(416, { ...h, 'content-range': d.contentRange, 'content-length': 0 }).end();
    return null;
  }
  if (d.kind === 'partial') {
    res.writeHead(206, { ...h, 'content-range': d.contentRange, 'content-length': d.length });
    return { start: d.offset, end: d.offset + d.length };
  }
  res.writeHead(200, { ...h, 'content-length': size });
  return { start: 0, end: size };
}
