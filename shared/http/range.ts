/**
 * HTTP Range requests (RFC 9110 §14), single range only. Pure, so image downloads and signed file
 * URLs (issue 3) answer ranges the same way.
 */
export type RangeDecision =
  /** No usable Range header: send the whole representation with 200. */
  | { kind: 'full' }
  /** Send bytes [offset, offset + length) with 206 and `Content-Range: bytes first-last/size`. */
  | { kind: 'partial'; offset: number; length: number; contentRange: string }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable'; contentRange: string };

const SPEC = /^bytes[ \t]*=[ \t]*(?:(\d{1,16})[ \t]*-[ \t]*(\d{0,16})|-[ \t]*(\d{1,16}))[ \t]*$/i;

/**
 * Decides how to answer `Range: <header>` for a representation of `size` bytes. A header that is not
 * a single bytes range (another unit, a list of ranges, bad syntax) is ignored, as RFC 9110 §14.2
 * allows, and the whole body is sent; a well-formed range that selects nothing is unsatisfiable.
 */
export function decideRange(header: string | null | undefined, size: number): RangeDecision {
  if (header === null || header === undefined) return { kind: 'full' };
  const m = SPEC.exec(header.trim());
  if (!m) return { kind: 'full' };
  const unsatisfiable: RangeDecision = { kind: 'unsatisfiable', contentRange: `bytes */${size}` };
  let first: number;
  let last: number;
  if (m[3] !== undefined) {
    // Suffix range: the last N bytes (§14.1.2); N = 0 selects nothing.
    const n = Number(m[3]);
    if (n === 0 || size === 0) return unsatisfiable;
    first = Math.max(0, size - n);
    last = size - 1;
  } else {
    first = Number(m[1]);
    last = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
    if (last < first) return { kind: 'full' }; // invalid syntax per §14.1.1: ignore it
    if (first >= size) return unsatisfiable;
    last = Math.min(last, size - 1);
  }
  return { kind: 'partial', offset: first, length: last - first + 1, contentRange: `bytes ${first}-${last}/${size}` };
}
