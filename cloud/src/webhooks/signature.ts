/**
 * Standard Webhooks signatures (standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}`, keyed by the bytes the secret's base64 (after
 * `whsec_`) encodes, sent as `webhook-signature: v1,<base64>`. Receivers can use that project's
 * libraries or the few lines of README.md "Webhooks". Web Crypto only: runs on every runtime.
 */

/** How far a receiver should let `webhook-timestamp` be from its own clock (the spec's default). */
export const REPLAY_WINDOW_SECONDS = 5 * 60;

const SECRET_PREFIX = 'whsec_';

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

/** A new secret: 32 random bytes, `whsec_<base64>`. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

async function hmac(secret: string, content: string): Promise<Uint8Array> {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('not a webhook secret (whsec_…)');
  const key = await crypto.subtle.importKey('raw', fromBase64(secret.slice(SECRET_PREFIX.length)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(content)));
}

/** The three headers of a signed POST. `timestamp` is Unix seconds, taken at each attempt. */
export async function signatureHeaders(secret: string, id: string, timestamp: number, body: string): Promise<Record<string, string>> {
  const sig = await hmac(secret, `${id}.${timestamp}.${body}`);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${toBase64(sig)}` };
}

/**
 * What a receiver does, for tests and for people reading: the signature must match and the
 * timestamp be within the replay window of `nowSeconds`. Returns the reason it is refused, or null.
 */
export async function verifySignature(secret: string, headers: { get(name: string): string | null }, body: string, nowSeconds: number): Promise<string | null> {
  const id = headers.get('webhook-id');
  const ts = headers.get('webhook-timestamp');
  const sigs = headers.get('webhook-signature');
  if (!id || !ts || !sigs) return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (!/^\d{1,12}$/.test(ts)) return 'webhook-timestamp is not Unix seconds';
  if (Math.abs(nowSeconds - Number(ts)) > REPLAY_WINDOW_SECONDS) return 'webhook-timestamp outside the replay window';
  const expected = toBase64(await hmac(secret, `${id}.${ts}.${body}`));
  // Several space-separated signatures may be sent (during a secret rotation); any one may match.
  const ok = sigs.split(' ').some((s) => s.startsWith('v1,') && constantTimeEqual(s.slice(3), expected));
  return ok ? null : 'signature does not match';
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
