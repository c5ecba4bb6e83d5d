import { randomFillSync } from 'node:crypto';
import { ID_PREFIXES } from '../../../shared/ids.ts';

/*
 * Ids for the relay's boot events, in shared/ids.ts's format (`evt_` + 10 base32 chars of the
 * millisecond time + 16 random ones), drawn from a pool of random bytes instead of one
 * crypto.getRandomValues call per event. Under a storm of new MACs the relay emits thousands of
 * events a second, and each call was a trip into the CSPRNG (randomFillSync) on the loop that
 * answers DHCP: a tenth of the relay's profile at 5,000 DISCOVERs/s. One fill of POOL_BYTES serves
 * POOL_BYTES / 16 ids; the bytes are as random as before, each used once, and the time prefix is
 * rebuilt only when the millisecond changes. A fill is turned into alphabet characters in place, so
 * an id's random part is one 16-character slice, not 16 one-character strings joined.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODES = Buffer.from(ALPHABET, 'latin1');
const RANDOM_CHARS = 16;
const POOL_BYTES = 4096;

export class EventIds {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  #at = POOL_BYTES;
  #ms = -1;
  #time = '';

  next(nowMs: number = Date.now()): string {
    if (nowMs !== this.#ms) {
      this.#ms = nowMs;
      let t = Math.max(0, Math.floor(nowMs));
      let time = '';
      for (let i = 0; i < 10; i++) {
        time = ALPHABET[t % 32] + time;
        t = Math.floor(t / 32);
      }
      this.#time = `${ID_PREFIXES.event}_${time}`;
    }
    const p = this.#pool;
    if (this.#at + RANDOM_CHARS > POOL_BYTES) {
      randomFillSync(p);
      for (let i = 0; i < POOL_BYTES; i++) p[i] = CODES[p[i]! & 31]!;
      this.#at = 0;
    }
    const random = p.toString('latin1', this.#at, this.#at + RANDOM_CHARS);
    this.#at += RANDOM_CHARS;
    return this.#time + random;
  }
}
