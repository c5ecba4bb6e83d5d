import { base64url, fromBase64url } from './base64url.ts';

/**
 * Sealing a BMC credential to one relay, so the cloud only ever stores ciphertext.
 *
 * ECIES with WebCrypto only (runs in browsers, workerd, Deno and Node):
 *   1. a fresh ephemeral X25519 key pair per seal; shared = X25519(ephemeral, relay public key);
 *   2. key = HKDF-SHA256(shared, salt = ephemeral public ‖ relay public, info = "edgeboot bmc seal v1"),
 *      256 bits, used once;
 *   3. AES-256-GCM with a random 96-bit IV; associated data = "edgeboot-bmc-v1\0<machine id>\0<relay id>".
 * The associated data binds the ciphertext to its machine and relay: a sealed password copied onto
 * another machine's row (or handed to another relay) fails to open instead of working there.
 *
 * Format: `s1.<ephemeral public>.<iv>.<ciphertext+tag>`, each part base64url. Public keys travel as
 * base64url of the raw 32 bytes; a relay's private key as a PKCS#8 base64url string.
 */

const VERSION = 's1';
const INFO = new TextEncoder().encode('edgeboot bmc seal v1');
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A BMC password is short; the bound keeps a sealed value a small column. */
export const MAX_SECRET_BYTES = 256;
/** The longest sealed string a MAX_SECRET_BYTES secret makes (used by schemas). */
export const MAX_SEALED_LENGTH = 3 + 44 + 1 + 16 + 1 + Math.ceil(((MAX_SECRET_BYTES + TAG_BYTES) * 4) / 3) + 4;
const SEALED = /^s1\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/;

export type SealFailure = 'malformed' | 'bad-key' | 'wrong-recipient' | 'too-long';

export class SealError extends Error {
  readonly reason: SealFailure;
  constructor(reason: SealFailure, message: string) {
    super(message);
    this.name = 'SealError';
    this.reason = reason;
  }
}

export interface SealBinding {
  machineId: string;
  relayId: string;
}

export interface RelayKeyPair {
  /** base64url of the raw X25519 public key (32 bytes): what the cloud stores. */
  publicKey: string;
  /** base64url of the PKCS#8 private key: stays in the relay's state dir. */
  privateKey: string;
}

const X25519 = { name: 'X25519' } as const;
/** `{ name: 'X25519', public }`: the Workers type library spells the member differently, the runtimes all accept this. */
const ecdh = (pub: CryptoKey) => ({ name: 'X25519', public: pub }) as unknown as Parameters<SubtleCrypto['deriveBits']>[0];
const raw = async (k: CryptoKey, format: 'raw' | 'pkcs8') => new Uint8Array((await crypto.subtle.exportKey(format, k)) as ArrayBuffer);

export async function generateRelayKeyPair(): Promise<RelayKeyPair> {
  const kp = (await crypto.subtle.generateKey(X25519, true, ['deriveBits'])) as CryptoKeyPair;
  const pub = await raw(kp.publicKey, 'raw');
  const priv = await raw(kp.privateKey, 'pkcs8');
  return { publicKey: base64url(pub), privateKey: base64url(priv) };
}

/** Whether `s` is the base64url form of a 32-byte X25519 public key. */
export function isRelayPublicKey(s: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(s) && fromBase64url(s).length === KEY_BYTES;
}

function aad(b: SealBinding): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(`edgeboot-bmc-v1\0${b.machineId}\0${b.relayId}`));
}

async function importPublic(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey('raw', raw, X25519, true, []);
  } catch {
    throw new SealError('bad-key', 'not an X25519 public key');
  }
}

async function aesKey(shared: ArrayBuffer, ephemeralPub: Uint8Array, relayPub: Uint8Array): Promise<CryptoKey> {
  const salt = new Uint8Array(ephemeralPub.length + relayPub.length);
  salt.set(ephemeralPub, 0);
  salt.set(relayPub, ephemeralPub.length);
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: INFO }, ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

/** Seals `secret` (a BMC password) to the relay whose public key is `relayPublicKey`, for one machine. */
export async function sealSecret(secret: string, relayPublicKey: string, binding: SealBinding): Promise<string> {
  const plain = new Uint8Array(new TextEncoder().encode(secret));
  if (plain.length > MAX_SECRET_BYTES) throw new SealError('too-long', `a BMC password is at most ${MAX_SECRET_BYTES} bytes`);
  if (!isRelayPublicKey(relayPublicKey)) throw new SealError('bad-key', 'the relay public key is not 32 bytes of base64url');
  const relayPubRaw = fromBase64url(relayPublicKey);
  const relayPub = await importPublic(relayPubRaw);
  const eph = (await crypto.subtle.generateKey(X25519, true, ['deriveBits'])) as CryptoKeyPair;
  const ephPub = await raw(eph.publicKey, 'raw');
  const shared = await crypto.subtle.deriveBits(ecdh(relayPub), eph.privateKey, 256);
  const key = await aesKey(shared, ephPub, relayPubRaw);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(binding) }, key, plain));
  return `${VERSION}.${base64url(ephPub)}.${base64url(iv)}.${base64url(ct)}`;
}

/**
 * Opens a sealed secret with the relay's key pair. Throws SealError('wrong-recipient') when the
 * ciphertext was sealed to another key, for another machine or relay, or was altered: AES-GCM cannot
 * tell those apart, and the message says so.
 */
export async function openSecret(sealed: string, keys: RelayKeyPair, binding: SealBinding): Promise<string> {
  const m = SEALED.exec(sealed);
  if (!m) throw new SealError('malformed', 'not a sealed credential (expected s1.<key>.<iv>.<ciphertext>)');
  const ephPubRaw = fromBase64url(m[1]!);
  const iv = fromBase64url(m[2]!);
  const ct = fromBase64url(m[3]!);
  if (ephPubRaw.length !== KEY_BYTES || iv.length !== IV_BYTES || ct.length < TAG_BYTES) throw new SealError('malformed', 'a part of the sealed credential has the wrong length');
  let priv: CryptoKey;
  try {
    priv = await crypto.subtle.importKey('pkcs8', fromBase64url(keys.privateKey), X25519, false, ['deriveBits']);
  } catch {
    throw new SealError('bad-key', "the relay's private key cannot be read");
  }
  const ephPub = await importPublic(ephPubRaw);
  let shared: ArrayBuffer;
  try {
    shared = await crypto.subtle.deriveBits(ecdh(ephPub), priv, 256);
  } catch {
    // A low-order ephemeral key gives an all-zero secret, which WebCrypto refuses.
    throw new SealError('malformed', 'the sealed credential carries an unusable ephemeral key');
  }
  const key = await aesKey(shared, ephPubRaw, fromBase64url(keys.publicKey));
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad(binding) }, key, ct);
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(plain);
  } catch {
    throw new SealError('wrong-recipient', 'the credential was not sealed to this relay for this machine (another relay\'s key, another machine, or altered): set it again with `edgeboot machines bmc set`');
  }
}
