import type { Principal } from './principal.ts';

/**
 * Resolved tokens, remembered for a few seconds so that a busy caller (a relay fetching scripts, the
 * CLI listing a fleet) costs one token query per TTL instead of one per request — on D1 that query is
 * a round trip. Entries keep the token's own expiry, which is checked on every use.
 *
 * Revocation through this app clears the cache at once. Another instance (another Workers isolate,
 * a second Node process) may accept a revoked token until its entry ages out: at most TTL_MS.
 */
const TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export interface CachedToken {
  principal: Principal;
  tokenExpiresAt: number | null;
  /** When last_used_at was last written; updated in place so a cached token still records use. */
  lastUsedAt: number | null;
}

interface Entry extends CachedToken {
  cachedUntil: number;
}

export interface PrincipalCache {
  /** The principal for a token hash, or undefined when unknown or stale. */
  get(hash: string, now: number): CachedToken | undefined;
  set(hash: string, token: CachedToken, now: number): void;
  /** Forgets everything; called whenever a token or relay is revoked. */
  clear(): void;
}

export function principalCache(): PrincipalCache {
  const entries = new Map<string, Entry>();
  return {
    get(hash, now) {
      const e = entries.get(hash);
      if (!e) return undefined;
      if (e.cachedUntil <= now) {
        entries.delete(hash);
        return undefined;
      }
      return e;
    },
    set(hash, token, now) {
      // Maps iterate in insertion order: dropping the first key drops the oldest entry.
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(hash, { ...token, cachedUntil: now + TTL_MS });
    },
    clear() {
      entries.clear();
    },
  };
}
