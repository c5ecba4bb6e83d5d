import { Sha256 } from '../crypto/sha256.ts';
import type { RelaySnapshotContent } from '../schemas/relay-sync.ts';

/**
 * The snapshot version both ends compute (issue 16): the relay checks that a delta applied to its
 * snapshot gives exactly the version the cloud announced, so the hash must not depend on how either
 * side happened to build its objects. Object keys are therefore sorted (recursively) before hashing;
 * arrays keep their order (machines are sorted by MAC by whoever builds them, and that order is part
 * of the content).
 */

/**
 * JSON with every object's keys in code-unit order, arrays in order; otherwise exactly
 * `JSON.stringify` (undefined members left out, undefined array items as null, no spaces). For plain
 * JSON data (no toJSON, no class instances).
 *
 * It is `JSON.stringify` with a property list (ECMA-262 SerializeJSONObject): given the sorted union
 * of all keys in the value, it writes each object's keys in that list's order, natively; a
 * 50,000-machine snapshot costs about twice a plain stringify instead of ten times when the text is
 * built here. A property list reads keys through the prototype chain, so a value with a key that
 * Object.prototype also has (`__proto__`, `constructor`) takes the slow path that sees own keys only.
 */
export function canonicalJson(value: unknown): string {
  const keys = new Set<string>();
  collectKeys(value, keys);
  for (const k of keys) if (k in Object.prototype) return slowCanonicalJson(value);
  return JSON.stringify(value, [...keys].sort()) ?? 'null';
}

function collectKeys(value: unknown, into: Set<string>): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) collectKeys(v, into);
    return;
  }
  for (const k of Object.keys(value)) {
    into.add(k);
    collectKeys((value as Record<string, unknown>)[k], into);
  }
}

function slowCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    const items = value.map((v: unknown) => (v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : slowCanonicalJson(v)));
    return `[${items.join(',')}]`;
  }
  const o = value as Record<string, unknown>;
  const members: string[] = [];
  for (const k of Object.keys(o).sort()) {
    const v = o[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    members.push(`${JSON.stringify(k)}:${slowCanonicalJson(v)}`);
  }
  return `{${members.join(',')}}`;
}

/** Hex digits of the version: 128 bits, plenty against accidental collisions, short enough for an ETag. */
const VERSION_HEX_DIGITS = 32;

/**
 * The version of a snapshot's content: the first 32 hex digits of SHA-256 over the canonical JSON of
 * `{ siteId, unknownMachines, machines }` (a `version` or `next` member present on the argument is
 * not part of the content and is ignored).
 */
export function snapshotVersion(content: RelaySnapshotContent, sha256Hex: Sha256Hex = portableSha256Hex): string {
  return sha256Hex(versionedText(content)).slice(0, VERSION_HEX_DIGITS);
}

/**
 * The same version through WebCrypto, which every runtime the cloud runs on has natively (but only
 * asynchronously): the cloud computes a site's version on every change, and in a Durable Object or
 * on Node's one loop the pure-JavaScript hash of a 50,000-machine site held it for ~100 ms.
 */
export async function snapshotVersionAsync(content: RelaySnapshotContent): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(versionedText(content))));
  let hex = '';
  for (let i = 0; i < VERSION_HEX_DIGITS / 2; i++) hex += digest[i]!.toString(16).padStart(2, '0');
  return hex;
}

function versionedText(content: RelaySnapshotContent): string {
  return canonicalJson({ siteId: content.siteId, unknownMachines: content.unknownMachines, machines: content.machines });
}

/** SHA-256 of a string's UTF-8 bytes, as lowercase hex. */
export type Sha256Hex = (text: string) => string;

/**
 * The pure-JavaScript hash, which every runtime has synchronously. A runtime with a native one
 * passes it instead: on the relay (node:crypto) a 50,000-machine snapshot hashes in a few
 * milliseconds instead of about 80, time its DHCP loop would otherwise not answer in.
 */
export const portableSha256Hex: Sha256Hex = (text) => new Sha256().update(new TextEncoder().encode(text)).digestHex();
