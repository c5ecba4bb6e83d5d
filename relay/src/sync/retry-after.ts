/**
 * `Retry-After` (RFC 9110 §10.2.3): either a number of seconds or an HTTP date. The cloud sends it
 * with 429 (a relay reconnecting in a tight loop, issue 16) and 503; a relay that ignores it and comes
 * back on its own short backoff is exactly the load the cloud was shedding.
 */

/** The longest wait a Retry-After can impose: a wrong or hostile value must not park the relay for hours. */
export const RETRY_AFTER_CAP_MS = 300_000;

/** The wait the header asks for in ms from `now` (0 for a date in the past), capped; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number, capMs: number = RETRY_AFTER_CAP_MS): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  let ms: number;
  if (/^[0-9]+$/.test(v)) ms = Number(v) * 1000;
  else {
    // IMF-fixdate and the two obsolete forms all parse with Date.parse; anything else is NaN.
    const at = /[a-z]/i.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(at)) return null;
    ms = at - now;
  }
  return Math.min(capMs, Math.max(0, ms));
}
