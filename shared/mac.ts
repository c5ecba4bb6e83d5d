/**
 * MAC addresses are normalised once, at the boundary, to lower-case colon form
 * (`52:54:00:12:34:56`). Everything past the boundary compares strings.
 *
 * Accepted spellings are the ones operators paste and firmware sends: colons, hyphens
 * (Windows, iPXE's `${mac:hexhyp}`), Cisco dotted (`5254.0012.3456`), bare hex, and the
 * URL-encoded colon form iPXE produces when it expands `${net0/mac}` into a query string.
 */
const SEPARATED = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/;
const DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/;
const BARE = /^[0-9a-f]{12}$/;

const CANONICAL = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function normalizeMac(input: string): string | null {
  // The common case on the relay's per-packet paths (snapshot lookups, events): already canonical.
  if (input.length === 17 && CANONICAL.test(input)) return input;
  if (input.length > 40) return null;
  const s = input.trim().toLowerCase().replaceAll('%3a', ':');
  let hex: string;
  const sep = SEPARATED.exec(s);
  if (sep) hex = [sep[1], sep[3], sep[4], sep[5], sep[6], sep[7]].join('');
  else if (DOTTED.test(s)) hex = s.replaceAll('.', '');
  else if (BARE.test(s)) hex = s;
  else return null;
  return hex.match(/../g)!.join(':');
}

/** True for a MAC already in canonical form. */
export function isCanonicalMac(s: string): boolean {
  return CANONICAL.test(s);
}
