/**
 * Incremental SHA-256 (FIPS 180-4) whose running state can be saved as a short string and resumed
 * later, possibly in another process. crypto.subtle only hashes whole buffers, but a multipart image
 * upload spans many HTTP requests (on Workers, different isolates): each part stores the midstate
 * after it, and the next part resumes from there, so the image's digest is known when the last part
 * lands without ever reading the image back.
 */

/**
 * The round constants and the initial hash value, as FIPS 180-4 §4.2.2 and §5.3.3 define them: the
 * first 32 bits of the fractional parts of the cube roots of the first 64 primes, and of the square
 * roots of the first 8. Computed rather than listed: 72 ten-digit numbers are the one part of this
 * file a minifier cannot shrink or gzip compress, and the Worker bundle has a size budget (a double
 * carries about 50 fraction bits here, so the 32 taken are exact; the FIPS test vectors check them).
 */
function primeRoots(count: number, root: (x: number) => number): Int32Array {
  const out = new Int32Array(count);
  for (let p = 2, n = 0; n < count; p++) {
    let prime = true;
    for (let d = 2; d * d <= p; d++) if (p % d === 0) prime = false;
    if (prime) {
      const r = root(p);
      out[n++] = (r - Math.floor(r)) * 2 ** 32;
    }
  }
  return out;
}

const K = primeRoots(64, Math.cbrt);
const IV = primeRoots(8, Math.sqrt);

/** Version tag of the exported state, so a format change is detected instead of misread. */
const STATE_PREFIX = 'sha256.v1';
/** Largest message length whose bit count (×8) stays an exact JS number: 2^53 bits. */
const MAX_BYTES = 2 ** 50;

export class Sha256StateError extends Error {
  constructor(message: string) {
    super(`invalid SHA-256 state: ${message}`);
    this.name = 'Sha256StateError';
  }
}

export class Sha256 {
  readonly #h = new Int32Array(IV);
  readonly #w = new Int32Array(64);
  readonly #tail = new Uint8Array(64);
  #tailLength = 0;
  #total = 0;

  /** Bytes hashed so far. */
  get length(): number {
    return this.#total;
  }

  update(data: Uint8Array): this {
    const n = data.length;
    if (this.#total + n > MAX_BYTES) throw new RangeError('SHA-256 input over 2^50 bytes');
    this.#total += n;
    let pos = 0;
    if (this.#tailLength > 0) {
      const take = Math.min(64 - this.#tailLength, n);
      this.#tail.set(data.subarray(0, take), this.#tailLength);
      this.#tailLength += take;
      pos = take;
      if (this.#tailLength < 64) return this;
      this.#blocks(this.#tail, 0, 64);
      this.#tailLength = 0;
    }
    const whole = (n - pos) & ~63;
    if (whole > 0) {
      this.#blocks(data, pos, pos + whole);
      pos += whole;
    }
    if (pos < n) {
      this.#tail.set(data.subarray(pos), 0);
      this.#tailLength = n - pos;
    }
    return this;
  }

  /** The digest of everything hashed so far; the hash stays usable (more updates may follow). */
  digest(): Uint8Array<ArrayBuffer> {
    const copy = this.#clone();
    const bits = this.#total * 8;
    const pad = new Uint8Array(this.#tailLength < 56 ? 64 - this.#tailLength : 128 - this.#tailLength);
    pad[0] = 0x80;
    // The 64-bit big-endian bit length; split because JS bit operators are 32-bit.
    const hi = Math.floor(bits / 2 ** 32);
    const lo = bits >>> 0;
    const e = pad.length;
    pad[e - 8] = hi >>> 24;
    pad[e - 7] = hi >>> 16;
    pad[e - 6] = hi >>> 8;
    pad[e - 5] = hi;
    pad[e - 4] = lo >>> 24;
    pad[e - 3] = lo >>> 16;
    pad[e - 2] = lo >>> 8;
    pad[e - 1] = lo;
    copy.#total -= pad.length; // padding is not message: keep the length check out of the way
    copy.update(pad);
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      const v = copy.#h[i]!;
      out[i * 4] = v >>> 24;
      out[i * 4 + 1] = v >>> 16;
      out[i * 4 + 2] = v >>> 8;
      out[i * 4 + 3] = v;
    }
    return out;
  }

  digestHex(): string {
    return toHex(this.digest());
  }

  /**
   * The running state as `sha256.v1:<bytes so far>:<8 words, hex>:<unprocessed tail, hex>` — at most
   * 210 characters. Resume it with `Sha256.restore`.
   */
  exportState(): string {
    const words = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      const v = this.#h[i]!;
      words[i * 4] = v >>> 24;
      words[i * 4 + 1] = v >>> 16;
      words[i * 4 + 2] = v >>> 8;
      words[i * 4 + 3] = v;
    }
    return `${STATE_PREFIX}:${this.#total}:${toHex(words)}:${toHex(this.#tail.subarray(0, this.#tailLength))}`;
  }

  /** A hash that continues from an exported state; throws Sha256StateError if the string is not one. */
  static restore(state: string): Sha256 {
    if (typeof state !== 'string' || state.length > 256) throw new Sha256StateError('not a state string');
    const fields = state.split(':');
    if (fields.length !== 4 || fields[0] !== STATE_PREFIX) throw new Sha256StateError(`expected "${STATE_PREFIX}:<length>:<words>:<tail>"`);
    const [, lengthText, wordsHex, tailHex] = fields as [string, string, string, string];
    if (!/^(0|[1-9][0-9]{0,15})$/.test(lengthText)) throw new Sha256StateError('length is not a decimal byte count');
    const total = Number(lengthText);
    if (total > MAX_BYTES) throw new Sha256StateError('length over 2^50 bytes');
    if (!/^[0-9a-f]{64}$/.test(wordsHex)) throw new Sha256StateError('words must be 64 lower-case hex digits');
    if (!/^([0-9a-f]{2}){0,63}$/.test(tailHex)) throw new Sha256StateError('tail must be 0 to 63 bytes of lower-case hex');
    const tailLength = tailHex.length / 2;
    if (total % 64 !== tailLength) throw new Sha256StateError(`a tail of ${tailLength} bytes does not fit a length of ${total}`);
    const h = new Sha256();
    const words = fromHex(wordsHex);
    for (let i = 0; i < 8; i++) h.#h[i] = (words[i * 4]! << 24) | (words[i * 4 + 1]! << 16) | (words[i * 4 + 2]! << 8) | words[i * 4 + 3]!;
    h.#tail.set(fromHex(tailHex));
    h.#tailLength = tailLength;
    h.#total = total;
    return h;
  }

  #clone(): Sha256 {
    const c = new Sha256();
    c.#h.set(this.#h);
    c.#tail.set(this.#tail);
    c.#tailLength = this.#tailLength;
    c.#total = this.#total;
    return c;
  }

  /** Compresses the 64-byte blocks in data[start, end). Locals only: no allocation per block. */
  #blocks(data: Uint8Array, start: number, end: number): void {
    const h = this.#h;
    const w = this.#w;
    let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!, h6 = h[6]!, h7 = h[7]!;
    for (let p = start; p < end; p += 64) {
      for (let i = 0; i < 16; i++) {
        const j = p + i * 4;
        w[i] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
      }
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, k = h7;
      for (let i = 0; i < 64; i++) {
        // The message schedule is expanded inside the round loop: one pass over w instead of two.
        let wi: number;
        if (i < 16) wi = w[i]!;
        else {
          const x = w[i - 15]!;
          const y = w[i - 2]!;
          const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
          const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
          wi = w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
        }
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (k + S1 + (g ^ (e & (f ^ g))) + K[i]! + wi) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) | (c & (a | b)))) | 0;
        k = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + k) | 0;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
    h[5] = h5;
    h[6] = h6;
    h[7] = h7;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A lower-case hex SHA-256 digest, the form images store and clients send. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
