/**
 * A relay release's signed statement: what the relay checks before it runs a new executable.
 * Pure and Web-standard (crypto.subtle Ed25519), shared by the packager that signs, the cloud that
 * stores, and the relay that verifies.
 *
 * The signature covers one line per field, in a fixed order, with a versioned prefix: no field can
 * be moved into another (FIELD-NOTES "Signed URLs"), and the size is signed as well as the sha256,
 * so a truncated download is refused for what it is.
 */
import { z } from 'zod';

export const RELEASE_ARCHES = ['x64', 'arm64'] as const;
export const RELEASE_KINDS = ['executable', 'deb'] as const;

/** 1.2.3, 1.2.3-rc.1, 0.1.0+build.5 — letters, digits and `.-+` only, so it is safe in paths and shells. */
export const ReleaseVersion = z.string().min(1).max(64).regex(/^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]{1,40})?$/, 'a version such as 1.2.3 or 1.2.3-rc.1');

export const ReleaseStatement = z.strictObject({
  version: ReleaseVersion,
  arch: z.enum(RELEASE_ARCHES),
  kind: z.enum(RELEASE_KINDS),
  bytes: z.number().int().min(1).max(2 ** 40),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ReleaseStatement = z.infer<typeof ReleaseStatement>;

/** The statement plus its signature, as `<artifact>.sig.json` beside a packaged artifact. */
export const SignedRelease = ReleaseStatement.extend({
  keyId: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a base64url Ed25519 signature (64 bytes)'),
});
export type SignedRelease = z.infer<typeof SignedRelease>;

/** The exact bytes that are signed. */
export function statementBytes(s: ReleaseStatement): Uint8Array {
  return new TextEncoder().encode(`edgeboot-relay-release/1\nversion=${s.version}\narch=${s.arch}\nkind=${s.kind}\nbytes=${s.bytes}\nsha256=${s.sha256}\n`);
}

export function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Signs with an Ed25519 private key (JWK with `d`); the key id travels with the signature. */
export async function signRelease(s: ReleaseStatement, privateJwk: JsonWebKey & { kid?: string }): Promise<SignedRelease> {
  if (!privateJwk.kid) throw new Error('the release key has no kid');
  const key = await crypto.subtle.importKey('jwk', privateJwk, { name: 'Ed25519' }, false, ['sign']);
  const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', key, statementBytes(s) as Uint8Array<ArrayBuffer>));
  return { ...s, keyId: privateJwk.kid, signature: base64url(sig) };
}

/**
 * Null when `r` is signed by one of `trusted` (public JWKs with `kid`); otherwise why not, as a
 * sentence for the log.
 */
export async function releaseSignatureProblem(r: SignedRelease, trusted: readonly (JsonWebKey & { kid?: string })[]): Promise<string | null> {
  const jwk = trusted.find((k) => k.kid === r.keyId);
  if (!jwk) return `signed by key ${r.keyId}, which this relay does not trust (it trusts ${trusted.map((k) => k.kid).join(', ') || 'none'})`;
  const { d: _private, ...pub } = jwk as JsonWebKey & { kid?: string };
  const key = await crypto.subtle.importKey('jwk', pub, { name: 'Ed25519' }, false, ['verify']);
  const ok = await crypto.subtle.verify('Ed25519', key, fromBase64url(r.signature), statementBytes(r) as Uint8Array<ArrayBuffer>);
  return ok ? null : `the signature by key ${r.keyId} does not match the release's version, architecture, size and sha256`;
}

/**
 * Orders release versions: numeric major.minor.patch, then a pre-release sorts before its release
 * (1.2.0-rc.1 < 1.2.0); build metadata (+…) is ignored, as in semver.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('+')[0]!.split(/-(.*)/s);
    return { nums: core!.split('.').map((n) => Number.parseInt(n, 10) || 0), pre: pre ?? null };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if ((x.nums[i] ?? 0) !== (y.nums[i] ?? 0)) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  const xs = x.pre.split('.');
  const ys = y.pre.split('.');
  for (let i = 0; i < Math.max(xs.length, ys.length); i++) {
    const p = xs[i];
    const q = ys[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn && Number(p) !== Number(q)) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** What the cloud tells a relay about the release it should run (GET /v1/relay/release). */
export const DesiredRelease = z.strictObject({
  desired: SignedRelease.extend({ path: z.string().regex(/^\/v1\/relay\/releases\/[^?#]+$/) }).nullable(),
});
export type DesiredRelease = z.infer<typeof DesiredRelease>;

export const UPDATE_STATES = ['idle', 'downloading', 'restarting', 'updated', 'refused', 'rolled-back'] as const;

/** What a relay reports about its updates (POST /v1/relay/update-state). */
export const UpdateReport = z.strictObject({
  state: z.enum(UPDATE_STATES),
  version: z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/),
  reason: z.string().max(500).optional(),
});
export type UpdateReport = z.infer<typeof UpdateReport>;
