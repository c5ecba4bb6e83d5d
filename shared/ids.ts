/**
 * Resource ids: `<prefix>_<26 chars>`, the first 10 chars a millisecond timestamp and the rest
 * 80 random bits, in Crockford base32 (lower case). Sorting ids sorts by creation time, which
 * gives list endpoints a stable keyset cursor for free.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const ID_PREFIXES = {
  site: 'site',
  relay: 'rly',
  machine: 'mch',
  image: 'img',
  upload: 'upl',
  profile: 'prf',
  assignment: 'asg',
  token: 'tok',
  boot: 'boot',
  event: 'evt',
  powerJob: 'pjob',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, nowMs: number = Date.now()): string {
  let time = '';
  let t = Math.max(0, Math.floor(nowMs));
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return `${ID_PREFIXES[kind]}_${time}${randomBase32(16)}`;
}

export function randomBase32(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

export function idPattern(kind: IdKind): RegExp {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9a-hjkmnp-tv-z]{26}$`);
}
