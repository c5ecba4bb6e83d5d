/**
 * How many bytes the image cache's responses may hand to their sockets in one turn of the event
 * loop, all responses together. The loop that serves images also answers DHCP, and on loopback or a
 * fast LAN a socket takes whatever it is given at once: a write of a memory copy's slice finishes
 * synchronously, its 'drain' comes on the next tick, and the copy loop's next write follows from
 * there — ticks and microtasks, never back to the loop. Fifty clients of a 64 MiB image held the loop
 * for up to 1.9 s that way (bench:cache-loop), and DHCP offers waited as long (bench:dhcp-storm).
 * With a budget a turn writes at most `bytesPerTurn` (plus one slice), then the writers wait for the
 * next turn, in the order they asked, and the poll phase between answers DHCP.
 */
export class TurnBudget {
  readonly bytesPerTurn: number;
  /** The most one write takes: a larger piece is written in slices, each asking the budget. */
  readonly sliceBytes: number;
  #left: number;
  #waiting: Array<{ n: number; go: () => void }> = [];
  #scheduled = false;

  constructor(bytesPerTurn: number, sliceBytes: number) {
    this.bytesPerTurn = bytesPerTurn;
    this.sliceBytes = sliceBytes;
    this.#left = bytesPerTurn;
  }

  /** null: write `n` bytes now; else a promise that resolves in a later turn, when they may be. */
  take(n: number): Promise<void> | null {
    this.#schedule();
    if (this.#left > 0 && this.#waiting.length === 0) {
      this.#left -= n;
      return null;
    }
    return new Promise<void>((go) => this.#waiting.push({ n, go }));
  }

  /** A new turn (setImmediate runs after the poll phase): a fresh budget, handed out in order. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#left = this.bytesPerTurn;
      while (this.#left > 0 && this.#waiting.length) {
        const w = this.#waiting.shift()!;
        this.#left -= w.n;
        w.go();
      }
      if (this.#waiting.length || this.#left < this.bytesPerTurn) this.#schedule();
    });
  }
}

/**
 * The process's one budget: there is one event loop per process, whatever serves from it. 4 MiB is
 * ~1–2 ms of copying into loopback sockets here, at 256 KiB a write (measured: bench:cache-loop).
 */
export const LOOP_BUDGET = new TurnBudget(4 * 1024 * 1024, 256 * 1024);
