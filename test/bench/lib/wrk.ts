import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** Response bytes (headers included) per second. */
  bytesPerSec: number;
}

/** wrk prints latencies as "1.23ms", "456.00us", "1.02s". */
function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) throw new Error(`unparsable wrk latency ${v}`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !p50 || !p99 || !total) throw new Error(`unexpected wrk output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  // wrk prints binary units: "1.23GB" is 1.23 × 2^30 bytes.
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?)B/.exec(out);
  const bytesPerSec = transfer ? Number(transfer[1]) * 1024 ** ' KMG'.indexOf(transfer[2] || ' ') : 0;
  return { requestsPerSec: Number(rps[1]), p50Ms: toMs(p50[1]!), p99Ms: toMs(p99[1]!), requests: Number(total[1]), errors, bytesPerSec };
}

/** Runs wrk for `seconds` at `connections` against `url` (bounded in time; loopback only). */
export async function wrk(
  url: string,
  opts: {
    connections: number;
    seconds: number;
    headers?: Record<string, string>;
    /** a wrk Lua script (e.g. rotating paths) */
    script?: string;
    /** wrk's per-request timeout (its default, 2 s, is shorter than one big file over many connections) */
    timeoutSeconds?: number;
  },
): Promise<WrkResult> {
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new Error('benchmarks only target loopback');
  const args = ['-t', String(Math.min(2, opts.connections)), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (opts.script) args.push('-s', opts.script);
  if (opts.timeoutSeconds) args.push('--timeout', `${opts.timeoutSeconds}s`);
  args.push(url);
  const { stdout } = await run('wrk', args, { timeout: (opts.seconds + 30) * 1000 });
  return parseWrk(stdout);
}

/** wrk answers `--version` with its usage and exit code 1; being able to start it is what counts. */
export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout?.includes('wrk') ?? false;
}
