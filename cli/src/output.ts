/**
 * What the CLI prints: aligned tables and key/value blocks for people, the API's JSON for scripts
 * (`--json`). Formatting is pure (strings in, string out) so it is unit-tested without a terminal;
 * results go to stdout, progress and errors to stderr, so `--json | jq` never sees a progress line.
 */

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  align?: 'left' | 'right';
}

/** Values a cell shows: no control characters (they would break the alignment or the terminal). */
export function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

const width = (s: string): number => [...s].length;

/**
 * Rows as an aligned table: a header line, then one line per row, columns separated by two spaces,
 * no trailing spaces. `empty` is printed instead when there are no rows.
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r))));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i]!))));
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const pad = ' '.repeat(widths[i]! - width(v));
        return columns[i]!.align === 'right' ? pad + v : i === values.length - 1 ? v : v + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** `label: value` lines with the values aligned, for `show` commands. */
export function formatFields(fields: readonly (readonly [string, string | number | boolean | null | undefined])[]): string {
  const w = Math.max(...fields.map(([k]) => width(k)));
  return fields.map(([k, v]) => `${k}:${' '.repeat(w - width(k) + 1)}${cell(v)}`).join('\n');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 → "1.5 KiB"; bytes as people read them (binary units, as `ls -h` and the part sizes). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[u]}`;
}

/** Seconds as "1h02m", "3m05s", "42s"; for ETAs and ages. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** An API timestamp relative to `now`: "12s ago", "in 5m00s", or "-" for none. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = (now - t) / 1000;
  return d >= 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`;
}

/** An API timestamp in a compact UTC form: "2025-03-01 14:05:09Z". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatLabels(labels: Record<string, string> | undefined | null): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/** Where a command writes; injectable so that commands can be driven without a process. */
export interface Output {
  json: boolean;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  now: () => number;
}

export function processOutput(json: boolean): Output {
  return {
    json,
    stdout: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    stderr: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    now: () => Date.now(),
  };
}

/** Prints `data` as JSON with --json, else as `render(data)` for people. */
export function emit<T>(out: Output, data: T, render: (data: T) => string): void {
  out.stdout(out.json ? JSON.stringify(data, null, 2) : render(data));
}
