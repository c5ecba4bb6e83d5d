import { randomFillSync } from 'node:crypto';
import { ID_PREFIXES } from '../../../shared/ids.ts';

/*
 * Ids for the relay's boot events, in shared/ids.ts's format (`evt_` + 10 base32 chars of the
 * millisecond time + 16 random ones), drawn from a pool of random bytes instead of one
 * crypto.getRandomValues call per event. Under a storm of new MACs the relay emits thousands of
 * events a second, and each call was a trip into the CSPRNG (randomFillSync) on the loop that
 * answers DHCP: a tenth of the relay's profile at 5,000 DISCOVERs/s. One fill of POOL_BYTES serves
 * POOL_BYTES / 16 ids; the bytes are as random as before, each used once, and the time prefix is
 * rebuilt only when the millisecond changes.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
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
    if (this.#at + RANDOM_CHARS > POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#at = 0;
    }
    const p = this.#pool;
    let out = this.#time;
    for (let i = this.#at, end = this.#at + RANDOM_CHARS; i < end; i++) out += ALPHABET[p[i]! & 31];
    this.#at += RANDOM_CHARS;
    return out;
  }
}
