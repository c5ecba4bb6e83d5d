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
 * `JSON.stringify` (undefined members left out, undefined array items as null, no spaces).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : canonicalJson(v);
    }
    return out + ']';
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return out + '}';
}

/** Hex digits of the version: 128 bits, plenty against accidental collisions, short enough for an ETag. */
const VERSION_HEX_DIGITS = 32;

/**
 * The version of a snapshot's content: the first 32 hex digits of SHA-256 over the canonical JSON of
 * `{ siteId, unknownMachines, machines }` (a `version` or `next` member present on the argument is
 * not part of the content and is ignored).
 */
export function snapshotVersion(content: RelaySnapshotContent): string {
  const text = canonicalJson({ siteId: content.siteId, unknownMachines: content.unknownMachines, machines: content.machines });
  return new Sha256().update(new TextEncoder().encode(text)).digestHex().slice(0, VERSION_HEX_DIGITS);
}
