import { randomBase32 } from '../../../shared/ids.ts';

/**
 * Enrollment codes are typed by a person at a relay's console: 16 Crockford base32 characters
 * (80 random bits) in groups of four. Crockford's alphabet has no I, L, O or U, and its decoding
 * rules read I/L as 1 and O as 0, so the usual misreadings still match.
 */
const CANONICAL = /^[0-9A-HJKMNP-TV-Z]{16}$/;

export function newEnrollmentCode(): string {
  return randomBase32(16).toUpperCase().replace(/(.{4})(?!$)/g, '$1-');
}

/** The canonical form that is hashed and stored, or null when the input cannot be a code. */
export function canonicalEnrollmentCode(input: string): string | null {
  const s = input.toUpperCase().replace(/[-\s]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  return CANONICAL.test(s) ? s : null;
}
