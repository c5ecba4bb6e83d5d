import { describe, expect, it } from 'vitest';
import { canonicalString, MAX_TTL_SECONDS, signToken, verifyToken, type SigningKey, type SignInput } from '../../shared/crypto/signed-url.ts';

const key = (kid: string, fill: number): SigningKey => ({ kid, secret: new Uint8Array(32).fill(fill) });
const k1 = key('k1', 1);
const k2 = key('k2', 2);
const NOW = 1_800_000_000;
const PATH = '/v1/files/img_01kc0000000000000000000000/vmlinuz';
const SITE = 'site_01kc0000000000000000000000';
const base: SignInput = { method: 'GET', path: PATH, site: SITE, expiresAt: NOW + 300 };

async function token(over: Partial<typeof base> = {}, k = k1) {
  return signToken(k, { ...base, ...over }, NOW);
}

function swapField(t: string, index: number, value: string): string {
  const p = t.split('.');
  p[index] = value;
  return p.join('.');
}

function flipChar(s: string, i: number): string {
  const c = s[i]!;
  const alt = c === 'A' ? 'B' : 'A';
  return s.slice(0, i) + alt + s.slice(i + 1);
}

describe('signed URL tokens', () => {
  it('verifies a fresh token for its own path, method and site', async () => {
    const r = await verifyToken([k1], await token(), { method: 'GET', path: PATH }, NOW);
    expect(r).toEqual({ ok: true, kid: 'k1', site: SITE, expiresAt: NOW + 300 });
  });

  it('lets a GET token answer a HEAD, but not a HEAD token a GET', async () => {
    expect((await verifyToken([k1], await token(), { method: 'HEAD', path: PATH }, NOW)).ok).toBe(true);
    const head = await token({ method: 'HEAD' });
    expect(await verifyToken([k1], head, { method: 'GET', path: PATH }, NOW)).toMatchObject({ ok: false, status: 403 });
  });

  it('accepts any active key by id (rotation) and refuses removed ones', async () => {
    const old = await token({}, k2);
    expect((await verifyToken([k1, k2], old, { method: 'GET', path: PATH }, NOW)).ok).toBe(true);
    expect(await verifyToken([k1], old, { method: 'GET', path: PATH }, NOW)).toMatchObject({ ok: false, status: 403, reason: 'unknown key id' });
  });

  it('keeps fields apart: moving digits between path and expiry changes the string', () => {
    const a = canonicalString('k1', { ...base, path: '/x1', expiresAt: 2 });
    const b = canonicalString('k1', { ...base, path: '/x', expiresAt: 12 });
    expect(a).not.toBe(b);
  });

  it('refuses to sign what it would not verify', async () => {
    await expect(signToken(k1, { ...base, path: '/a/../b' }, NOW)).rejects.toThrow();
    await expect(signToken(k1, { ...base, expiresAt: NOW + MAX_TTL_SECONDS + 1 }, NOW)).rejects.toThrow();
    await expect(signToken({ kid: 'BAD KID', secret: new Uint8Array(32) }, base, NOW)).rejects.toThrow();
    await expect(signToken({ kid: 'short', secret: new Uint8Array(8) }, base, NOW)).rejects.toThrow();
  });

  // The tamper list: every case is refused, with 400 for malformed tokens and 403 for wrong ones.
  type Case = [name: string, make: (t: string) => Promise<{ token: string; method?: string; path?: string; now?: number }>, status: 400 | 403];
  const cases: Case[] = [
    ['a bit flipped in the MAC', async (t) => ({ token: swapField(t, 4, flipChar(t.split('.')[4]!, 5)) }), 403],
    ['the last MAC char changed to a non-canonical one', async (t) => ({ token: swapField(t, 4, t.split('.')[4]!.slice(0, 42) + 'B') }), 400],
    ['a MAC from another path', async (t) => ({ token: swapField(t, 4, (await token({ path: '/v1/files/other' })).split('.')[4]!) }), 403],
    ['the key id changed', async (t) => ({ token: swapField(t, 1, 'k2') }), 403],
    ['an unknown key id', async (t) => ({ token: swapField(t, 1, 'k9') }), 403],
    ['a malformed key id', async (t) => ({ token: swapField(t, 1, 'K1!') }), 400],
    ['an empty key id', async (t) => ({ token: swapField(t, 1, '') }), 400],
    ['expiry +1', async (t) => ({ token: swapField(t, 2, String(NOW + 301)) }), 403],
    ['expiry moved a digit', async (t) => ({ token: swapField(t, 2, String(NOW + 300) + '0') }), 403],
    ['a non-numeric expiry', async (t) => ({ token: swapField(t, 2, '18e8') }), 400],
    ['a negative expiry', async (t) => ({ token: swapField(t, 2, '-1') }), 400],
    ['an expiry with a leading zero', async (t) => ({ token: swapField(t, 2, '0' + (NOW + 300)) }), 400],
    ['a huge expiry', async (t) => ({ token: swapField(t, 2, '9'.repeat(40)) }), 400],
    ['expired by one second', async () => ({ token: await token({ expiresAt: NOW - 1 }), now: NOW }), 403],
    ['expiring exactly now', async () => ({ token: await token({ expiresAt: NOW }), now: NOW }), 403],
    ['validly signed but beyond the maximum lifetime', async () => ({ token: await token({ expiresAt: NOW + 3600 }), now: NOW - MAX_TTL_SECONDS }), 403],
    ['the site changed', async (t) => ({ token: swapField(t, 3, 'site_01kc0000000000000000000001') }), 403],
    ['a malformed site', async (t) => ({ token: swapField(t, 3, 'site/../x') }), 400],
    ['another path', async (t) => ({ token: t, path: '/v1/files/img_01kc0000000000000000000000/initrd' }), 403],
    ['a trailing slash', async (t) => ({ token: t, path: PATH + '/' }), 403],
    ['a doubled slash', async (t) => ({ token: t, path: PATH.replace('/files/', '/files//') }), 403],
    ['a dot segment', async (t) => ({ token: t, path: PATH.replace('/files/', '/files/./') }), 403],
    ['a percent-encoded letter', async (t) => ({ token: t, path: PATH.replace('vmlinuz', 'vmlinu%7a') }), 403],
    ['a case change in the path', async (t) => ({ token: t, path: PATH.toUpperCase() }), 403],
    ['another method', async (t) => ({ token: t, method: 'POST' }), 403],
    ['a truncated MAC', async (t) => ({ token: t.slice(0, -1) }), 400],
    ['an overlong MAC', async (t) => ({ token: t + 'A' }), 400],
    ['standard base64 characters in the MAC', async (t) => ({ token: swapField(t, 4, t.split('.')[4]!.slice(0, 10) + '+' + t.split('.')[4]!.slice(11)) }), 400],
    ['base64 padding on the MAC', async (t) => ({ token: t + '=' }), 400],
    ['an unknown version', async (t) => ({ token: swapField(t, 0, 'v2') }), 400],
    ['a missing field', async (t) => ({ token: t.split('.').slice(1).join('.') }), 400],
    ['an extra field', async (t) => ({ token: t + '.x' }), 400],
    ['an empty token', async () => ({ token: '' }), 400],
    ['a very long token', async (t) => ({ token: t + 'A'.repeat(5000) }), 400],
  ];

  it.each(cases)('refuses %s', async (_name, make, status) => {
    const t = await token();
    const c = await make(t);
    const r = await verifyToken([k1, key('k2', 2)], c.token, { method: c.method ?? 'GET', path: c.path ?? PATH }, c.now ?? NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.status).toBe(status);
  });
});
