/**
 * Relay releases for the contract suite: artifacts signed with a key made here (the cloud stores
 * signatures and never checks them against a key: relays do), published the way
 * `edgeboot relays publish` does — the statement in the query, the bytes as the body.
 * Web-standard only (imported inside workerd).
 */
import { signRelease, type SignedRelease } from '../../shared/release/statement.ts';
import { call, type ApiTarget, type CallResult } from './target.ts';

let key: Promise<JsonWebKey & { kid: string }> | undefined;
function releaseKey(): Promise<JsonWebKey & { kid: string }> {
  key ??= (async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    return { ...(await crypto.subtle.exportKey('jwk', pair.privateKey)), kid: 'contract' } as JsonWebKey & { kid: string };
  })();
  return key;
}

/** A version no other case uses (releases are immutable and the targets are shared). */
export function uniqueVersion(major = 0): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${major}.${r[0]! % 100000}.${r[1]! % 100000}`;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface Artifact {
  statement: SignedRelease;
  /** What is uploaded: for an executable the cloud stores (and serves) these bytes as they are. */
  body: Uint8Array;
}

/** A signed artifact whose statement describes `bytes` (an executable's statement is about the bytes before gzip; the contract does not gzip). */
export async function artifact(version: string, arch: 'x64' | 'arm64', kind: 'executable' | 'deb', bytes = crypto.getRandomValues(new Uint8Array(1024))): Promise<Artifact> {
  return { statement: await signRelease({ version, arch, kind, bytes: bytes.length, sha256: await sha256Hex(bytes) }, await releaseKey()), body: bytes };
}

export function publishPath(s: SignedRelease): string {
  const q = new URLSearchParams({ bytes: String(s.bytes), sha256: s.sha256, keyId: s.keyId, signature: s.signature });
  return `/v1/relay-releases/${s.version}/${s.arch}/${s.kind}?${q}`;
}

export function publish(t: ApiTarget, a: Artifact, token?: string | null): Promise<CallResult> {
  return call(t, 'PUT', publishPath(a.statement), { token, body: a.body as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(a.body.length) } });
}

/** Publishes and insists on 201. */
export async function published(t: ApiTarget, version: string, arch: 'x64' | 'arm64' = 'x64', kind: 'executable' | 'deb' = 'executable'): Promise<Artifact> {
  const a = await artifact(version, arch, kind);
  const r = await publish(t, a);
  if (r.status !== 201) throw new Error(`setup: publishing ${version} ${arch} ${kind} gave ${r.status}: ${r.text.slice(0, 200)}`);
  return a;
}

/** Clears the fleet's choice (cases that set it put it back: the targets are shared). */
export async function clearFleet(t: ApiTarget): Promise<void> {
  const r = await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: null } });
  if (r.status !== 200) throw new Error(`clearing the fleet version gave ${r.status}`);
}
