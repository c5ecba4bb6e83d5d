/** Time, injected so tests can move it (token expiry, enrollment codes, signed URLs). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
