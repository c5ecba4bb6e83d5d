/**
 * Signed, expiring URLs for image downloads (and any other GET/HEAD the cloud hands to iPXE).
 *
 * Token (query parameter `sig`): `v1.<kid>.<expiry>.<site>.<mac>` where mac is the HMAC-SHA256,
 * base64url without padding, over a canonical string in which every field is length-prefixed:
 *
 *     "v1" NUL len(kid) ":" kid NUL len(method) ":" method NUL len(path) ":" path NUL ...
 *
 * Length prefixes make the encoding injective, so no two (kid, method, path, expiry, site) tuples
 * share a string. Cloudflare's published example signs `path + expiry` with nothing between them,
 * which lets `/x1` at time T verify as `/x` at time `1T`; this format cannot do that.
 *
 * The expiry is absolute (unix seconds), verification refuses anything further ahead than the
 * maximum lifetime (a forged long-lived token needs the key anyway, but a leaked key id with a stolen
 * token cannot be stretched), keys rotate by id, and the MAC is compared in constant time.
 */

import { base64url, fromBase64url } from './base64url.ts';

export interface SigningKey {
  /** Short identifier carried in the token: 1–16 of [a-z0-9-]. */
  kid: string;
  /** Raw key bytes (≥ 32). */
  secret: Uint8Array;
}

export interface SignInput {
  method: 'GET' | 'HEAD';
  /** The URL path exactly as it will be requested (already percent-encoded). */
  path: string;
  /** The site the URL is handed to. */
  site: string;
  /** Unix seconds at which the URL stops working. */
  expiresAt: number;
}

export type VerifyResult =
  | { ok: true; kid: string; site: string; expiresAt: number }
  | { ok: false; status: 400 | 403; reason: string };

const VERSION = 'v1';
const KID = /^[a-z0-9-]{1,16}$/;
const SITE = /^[A-Za-z0-9_-]{1,64}$/;
/** Decimal, no sign, no leading zero, at most 11 digits (year 5138): no float or overflow tricks. */
const EXPIRY = /^[1-9][0-9]{0,10}$/;
/** 32 bytes → 43 base64url chars; the last char carries 4 bits, so only these 16 are canonical. */
const MAC = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** Paths are made by the cloud from ids and names: a narrow character set, no dot segments. */
const PATH = /^(\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

export const MAX_TTL_SECONDS = 24 * 3600;

function field(s: string): string {
  return `${s.length}:${s}\u0000`;
}

export function canonicalString(kid: string, input: SignInput): string {
  return field(VERSION) + field(kid) + field(input.method) + field(input.path) + field(String(input.expiresAt)) + field(input.site);
}

const keyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>();
function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keyCache.set(secret, k);
  }
  return k;
}

function checkKey(key: SigningKey): void {
  if (!KID.test(key.kid)) throw new Error(`signing key id ${JSON.stringify(key.kid)} must be 1-16 of [a-z0-9-]`);
  if (key.secret.length < 32) throw new Error(`signing key ${key.kid} is ${key.secret.length} bytes; at least 32 are needed`);
}

/** Returns the token for `input`, signed with `key`. Throws on inputs the verifier would refuse. */
export async function signToken(key: SigningKey, input: SignInput, nowSeconds: number): Promise<string> {
  checkKey(key);
  if (!PATH.test(input.path) || input.path.length > 1024) throw new Error(`path ${JSON.stringify(input.path)} cannot be signed`);
  if (!SITE.test(input.site)) throw new Error(`site ${JSON.stringify(input.site)} cannot be signed`);
  if (!Number.isSafeInteger(input.expiresAt) || !EXPIRY.test(String(input.expiresAt))) throw new Error('expiresAt must be whole unix seconds');
  if (input.expiresAt - nowSeconds > MAX_TTL_SECONDS) throw new Error(`a signed URL may live at most ${MAX_TTL_SECONDS} s`);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKey(key.secret), new TextEncoder().encode(canonicalString(key.kid, input))));
  return `${VERSION}.${key.kid}.${input.expiresAt}.${input.site}.${base64url(mac)}`;
}

/**
 * Checks a token for a request. Malformed tokens → 400; well-formed but wrong (unknown key, other
 * path, method or site, expired, too far in the future, bad MAC) → 403. Never throws on input.
 */
export async function verifyToken(
  keys: readonly SigningKey[],
  token: string,
  request: { method: string; path: string },
  nowSeconds: number,
  maxTtlSeconds: number = MAX_TTL_SECONDS,
): Promise<VerifyResult> {
  if (token.length > 256) return { ok: false, status: 400, reason: 'token too long' };
  const parts = token.split('.');
  if (parts.length !== 5) return { ok: false, status: 400, reason: 'token must have 5 dot-separated fields' };
  const [version, kid, expiry, site, mac] = parts as [string, string, string, string, string];
  if (version !== VERSION) return { ok: false, status: 400, reason: 'unknown token version' };
  if (!KID.test(kid)) return { ok: false, status: 400, reason: 'malformed key id' };
  if (!EXPIRY.test(expiry)) return { ok: false, status: 400, reason: 'malformed expiry' };
  if (!SITE.test(site)) return { ok: false, status: 400, reason: 'malformed site' };
  if (!MAC.test(mac)) return { ok: false, status: 400, reason: 'malformed signature' };
  const method = request.method === 'HEAD' ? 'HEAD' : request.method === 'GET' ? 'GET' : null;
  if (!method) return { ok: false, status: 403, reason: 'method not allowed by token' };
  if (!PATH.test(request.path) || request.path.length > 1024) return { ok: false, status: 403, reason: 'path not covered by token' };

  const key = keys.find((k) => k.kid === kid);
  if (!key) return { ok: false, status: 403, reason: 'unknown key id' };
  const expiresAt = Number(expiry);
  // The MAC is checked before the clock so that timing says nothing about validity windows.
  const data = new TextEncoder().encode(canonicalString(kid, { method, path: request.path, site, expiresAt }));
  // A HEAD is allowed by a GET token too: it reveals only what the GET would.
  let valid = await crypto.subtle.verify('HMAC', await hmacKey(key.secret), fromBase64url(mac), data);
  if (!valid && method === 'HEAD') {
    const asGet = new TextEncoder().encode(canonicalString(kid, { method: 'GET', path: request.path, site, expiresAt }));
    valid = await crypto.subtle.verify('HMAC', await hmacKey(key.secret), fromBase64url(mac), asGet);
  }
  if (!valid) return { ok: false, status: 403, reason: 'bad signature' };
  if (expiresAt <= nowSeconds) return { ok: false, status: 403, reason: 'expired' };
  if (expiresAt - nowSeconds > maxTtlSeconds) return { ok: false, status: 403, reason: 'expiry beyond the maximum lifetime' };
  return { ok: true, kid, site, expiresAt };
}
