/**
 * Upload progress for people: a bar with bytes, rate and ETA on a terminal (cli-progress), and on
 * anything else (CI logs, pipes) plain lines every few seconds, so a log shows progress without
 * being flooded by carriage returns.
 */
import { formatBytes, formatDuration } from '../output.ts';

export interface Progress {
  /** Starts the display: `done` bytes are already there (a resumed upload). */
  start(label: string, total: number, done: number): void;
  /** Bytes done so far (may go back when a failed part is sent again). */
  update(done: number): void;
  /** A line of its own: a part stored, a retry. */
  note(message: string): void;
  stop(): void;
}

/** Rate and ETA from the bytes sent in this run (a resumed upload's earlier bytes do not count). */
export class Meter {
  #t0 = 0;
  #base = 0;
  total = 0;
  done = 0;
  readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }
  start(total: number, done: number): void {
    this.total = total;
    this.done = done;
    this.#base = done;
    this.#t0 = this.now();
  }
  /** Bytes per second in this run; while it runs, 0 until a little time has passed (no wild first figures). */
  rate(final = false): number {
    const s = (this.now() - this.#t0) / 1000;
    if (s <= 0 || (!final && s < 0.2)) return 0;
    return Math.max(0, this.done - this.#base) / s;
  }
  eta(): string {
    const r = this.rate();
    return r > 0 ? formatDuration((this.total - this.done) / r) : '?';
  }
  line(label: string, final = false): string {
    const pct = this.total > 0 ? Math.floor((this.done / this.total) * 100) : 100;
    return `${label}: ${formatBytes(this.done)} / ${formatBytes(this.total)} (${pct}%), ${formatBytes(Math.round(this.rate(final)))}/s, ETA ${this.done >= this.total ? '0s' : this.eta()}`;
  }
}

/** Async: cli-progress is loaded only when a terminal shows a bar. */
export async function terminalProgress(stream: NodeJS.WriteStream): Promise<Progress> {
  const { default: cliProgress } = await import('cli-progress');
  const meter = new Meter();
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: '{label} {bar} {percentage}% | {doneH} / {totalH} | {rateH}/s | ETA {etaH}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      barsize: 24, // room for bytes, rate and ETA on an 80-column terminal
      clearOnComplete: false,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: InstanceType<typeof cliProgress.SingleBar> | null = null;
  const payload = () => ({ doneH: formatBytes(meter.done), totalH: formatBytes(meter.total), rateH: formatBytes(Math.round(meter.rate())), etaH: meter.eta() });
  return {
    start(label, total, done) {
      meter.start(total, done);
      bar = multi.create(total, done, { label, ...payload() });
    },
    update(done) {
      meter.done = done;
      bar?.update(done, payload());
    },
    note(message) {
      multi.log(`${message}\n`);
    },
    stop() {
      bar?.update(meter.done, payload());
      multi.stop();
    },
  };
}

export function plainProgress(write: (line: string) => void, intervalMs = 5000, now: () => number = Date.now): Progress {
  const meter = new Meter(now);
  let label = '';
  let last = 0;
  return {
    start(l, total, done) {
      label = l;
      meter.start(total, done);
      last = now();
      write(`${label}: ${formatBytes(total)}${done > 0 ? `, ${formatBytes(done)} already uploaded` : ''}`);
    },
    update(done) {
      meter.done = done;
      if (now() - last >= intervalMs) {
        last = now();
        write(meter.line(label));
      }
    },
    note(message) {
      write(message);
    },
    stop() {
      write(meter.line(label, true));
    },
  };
}

/** No output at all (--quiet, --json). */
export const silentProgress: Progress = { start() {}, update() {}, note() {}, stop() {} };
