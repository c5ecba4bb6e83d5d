/**
 * Structured logs: one JSON object per line on stdout, so journald and log shippers need no parser.
 * Hot loops never log per packet (a flood of bad packets must not become a flood of log lines):
 * they count drops and call `once(reason, …)`, which prints at most one line per reason per interval.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * Logs at most once per `reason` per interval; the line carries how many were suppressed since.
   * `fields` may be a function: hot loops pass one so a suppressed call builds nothing.
   */
  once(reason: string, msg: string, fields?: Record<string, unknown> | (() => Record<string, unknown>)): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  component?: string;
  write?: (line: string) => void;
  onceIntervalMs?: number;
  now?: () => number;
  quiet?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = opts.now ?? Date.now;
  const interval = opts.onceIntervalMs ?? 60_000;
  /** Per component (shared by every child of that name), so `once` finds its reason without building a key string per call. */
  const seenBy = new Map<string, Map<string, { at: number; suppressed: number }>>();
  const make = (component: string | undefined): Logger => {
    let seen = seenBy.get(component ?? '');
    if (!seen) seenBy.set(component ?? '', (seen = new Map()));
    const log = (level: Level, msg: string, fields?: Record<string, unknown>) => {
      if (opts.quiet && level !== 'error') return;
      write(JSON.stringify({ t: new Date(now()).toISOString(), level, ...(component ? { component } : {}), msg, ...fields }, errorsAsText));
    };
    return {
      log,
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      once(reason, msg, fields) {
        const s = seen.get(reason);
        const t = now();
        if (s && t - s.at < interval) {
          s.suppressed++;
          return;
        }
        const suppressed = s?.suppressed ?? 0;
        if (s) {
          s.at = t;
          s.suppressed = 0;
        } else seen.set(reason, { at: t, suppressed: 0 });
        log('warn', msg, { reason, ...(suppressed ? { suppressed } : {}), ...(typeof fields === 'function' ? fields() : fields) });
      },
      child: (c) => make(component ? `${component}.${c}` : c),
    };
  };
  return make(opts.component);
}

function errorsAsText(_key: string, value: unknown): unknown {
  return value instanceof Error ? `${value.name}: ${value.message}` : value;
}
