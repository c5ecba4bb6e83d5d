import { describe, expect, it } from 'vitest';
import { Sha256, Sha256StateError, toHex } from '../../shared/crypto/sha256.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const native = async (bytes: Uint8Array<ArrayBuffer>) => toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
function bytes(n: number, seed = n + 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

function hashInChunks(data: Uint8Array, chunk: number): string {
  const h = new Sha256();
  for (let i = 0; i < data.length; i += chunk) h.update(data.subarray(i, i + chunk));
  return h.digestHex();
}

describe('Sha256', () => {
  // FIPS 180-4 examples and the NIST CAVS short/long message vectors.
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    [
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
    ],
  ])('hashes the NIST vector %j', (msg, digest) => {
    expect(new Sha256().update(enc(msg)).digestHex()).toBe(digest);
  });

  it('hashes one million "a" (NIST long vector) fed in uneven pieces', () => {
    const a = new Uint8Array(1_000_000).fill(0x61);
    expect(hashInChunks(a, 997)).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('matches crypto.subtle at every length from 0 to 300 bytes', async () => {
    for (let n = 0; n <= 300; n++) {
      const data = bytes(n);
      expect(new Sha256().update(data).digestHex(), `length ${n}`).toBe(await native(data));
    }
  });

  it('matches crypto.subtle for chunk sizes around the 64-byte block', async () => {
    const data = bytes(4099);
    const want = await native(data);
    for (const chunk of [1, 2, 3, 7, 31, 55, 56, 57, 63, 64, 65, 127, 128, 129, 1000, 4096, 4099]) {
      expect(hashInChunks(data, chunk), `chunk ${chunk}`).toBe(want);
    }
  });

  it('matches crypto.subtle on several MiB fed in random-sized pieces', async () => {
    const data = bytes(5 * 1024 * 1024 + 13, 7);
    const h = new Sha256();
    let seed = 12345;
    for (let i = 0; i < data.length; ) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (seed % 200_000);
      h.update(data.subarray(i, i + n));
      i += n;
    }
    expect(h.digestHex()).toBe(await native(data));
    expect(h.length).toBe(data.length);
  });

  it('keeps hashing after a digest (digest does not finalise the state)', async () => {
    const h = new Sha256().update(enc('hello '));
    expect(h.digestHex()).toBe(await native(enc('hello ')));
    h.update(enc('world'));
    expect(h.digestHex()).toBe(await native(enc('hello world')));
  });

  it('resumes from an exported state at every split point of a buffer', async () => {
    const data = bytes(200, 99);
    const want = await native(data);
    for (let split = 0; split <= data.length; split++) {
      const state = new Sha256().update(data.subarray(0, split)).exportState();
      const resumed = Sha256.restore(state).update(data.subarray(split));
      expect(resumed.digestHex(), `split at ${split}`).toBe(want);
    }
  });

  it('resumes across a chain of exports, as multipart upload parts do', async () => {
    const data = bytes(3 * 1024 * 1024 + 5, 3);
    let state = new Sha256().exportState();
    const part = 1024 * 1024 + 17;
    for (let i = 0; i < data.length; i += part) state = Sha256.restore(state).update(data.subarray(i, i + part)).exportState();
    expect(Sha256.restore(state).digestHex()).toBe(await native(data));
    expect(Sha256.restore(state).length).toBe(data.length);
  });

  it('exports a compact, versioned state string', () => {
    const s = new Sha256().update(bytes(100)).exportState();
    expect(s).toMatch(/^sha256\.v1:100:[0-9a-f]{64}:[0-9a-f]{72}$/);
    expect(new Sha256().update(bytes(127)).exportState().length).toBeLessThanOrEqual(210);
  });

  it.each([
    ['an empty string', ''],
    ['another format', 'sha1.v1:0:' + '0'.repeat(64) + ':'],
    ['a missing field', 'sha256.v1:0:' + '0'.repeat(64)],
    ['an extra field', 'sha256.v1:0:' + '0'.repeat(64) + '::'],
    ['a negative length', 'sha256.v1:-1:' + '0'.repeat(64) + ':'],
    ['a length with leading zeros', 'sha256.v1:01:' + '0'.repeat(64) + ':00'],
    ['a length that is not a number', 'sha256.v1:1e3:' + '0'.repeat(64) + ':'],
    ['a length over 2^50', `sha256.v1:${2 ** 51}:` + '0'.repeat(64) + ':'],
    ['short words', 'sha256.v1:0:' + '0'.repeat(63) + ':'],
    ['upper-case hex', 'sha256.v1:0:' + 'A'.repeat(64) + ':'],
    ['a tail of odd hex length', 'sha256.v1:1:' + '0'.repeat(64) + ':0'],
    ['a tail that disagrees with the length', 'sha256.v1:3:' + '0'.repeat(64) + ':00'],
    ['a 64-byte tail', 'sha256.v1:64:' + '0'.repeat(64) + ':' + '00'.repeat(64)],
    ['an oversized string', 'x'.repeat(1000)],
  ])('rejects %s with a clear error', (_label, state) => {
    expect(() => Sha256.restore(state)).toThrow(Sha256StateError);
    expect(() => Sha256.restore(state)).toThrow(/^invalid SHA-256 state: /);
  });
});
