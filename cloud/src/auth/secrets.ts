import { Sha256 } from '../../../shared/crypto/sha256.ts';
import { randomBase32 } from '../../../shared/ids.ts';

/**
 * Bearer secrets: `ebt_` + 32 base32 chars (160 random bits). Only their SHA-256 is stored, so a
 * database leak does not leak credentials; 160 bits make a salt unnecessary.
 */
export function newSecret(prefix: 'ebt' | 'ebr' = 'ebt'): string {
  return `${prefix}_${randomBase32(32)}`;
}

/**
 * Synchronous on purpose: secrets are a few dozen bytes, and crypto.subtle.digest would send each
 * one through Node's thread pool and back, which was the largest single cost of an authenticated
 * request (profiled on "get machine by MAC").
 */
export function sha256Hex(text: string): string {
  return new Sha256().update(new TextEncoder().encode(text)).digestHex();
}

/** Compares two strings in time independent of where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}
