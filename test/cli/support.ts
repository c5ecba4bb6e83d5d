/**
 * The CLI as users run it: a child process (the bundle built from the current sources, like the
 * relay tests run the relay's bundle) against a real control plane on the Node entry, each test
 * file with its own HOME, config and state directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildCli } from '../../scripts/build-cli.ts';
import { spawnEntry, REPO_ROOT, type SpawnedEntry } from '../support/spawned-entry.ts';

export { REPO_ROOT };

/** The control plane on its embedded default (SQLite, folder), on a free port. */
export function startCloud(name: string): Promise<SpawnedEntry> {
  return spawnEntry({
    name,
    command: process.execPath,
    args: () => ['cloud/src/entry/node.ts'],
    env: { PORT: '0' },
    listening: /listening on (http:\/\/\S+)/i,
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (the command ran with --json). */
  json<T = any>(): T;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr (progress, errors) contains `text`. */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

export interface Cli {
  /** HOME of the CLI's processes; config in home/config, state in home/state. */
  home: string;
  env: Record<string, string>;
  run(args: string[], opts?: RunOptions): Promise<CliResult>;
  spawn(args: string[], opts?: RunOptions): RunningCli;
  cleanup(): void;
}

let bundle: Promise<string> | undefined;
let bundleDir: string | undefined;

/** One bundle per test file (worker), built from the sources as they are now. */
export function cliBundle(): Promise<string> {
  if (!bundle) {
    bundleDir = mkdtempSync(join(tmpdir(), 'edgeboot-cli-bundle-'));
    bundle = buildCli(join(bundleDir, 'edgeboot.mjs'));
  }
  return bundle;
}

/**
 * A CLI environment. With `entry`, EDGEBOOT_URL and EDGEBOOT_TOKEN (admin) are set, so commands
 * work without a login; pass `login: false` to test the config file instead.
 */
export async function makeCli(entry?: SpawnedEntry, opts: { login?: boolean; program?: string } = {}): Promise<Cli> {
  const program = opts.program ?? (await cliBundle());
  const home = mkdtempSync(join(tmpdir(), 'edgeboot-cli-home-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_STATE_HOME: join(home, 'state'),
    // No colours or widths from the test runner's terminal.
    NO_COLOR: '1',
    // Compiled code cached across the many short CLI processes (as the bin does for users).
    NODE_COMPILE_CACHE: join(tmpdir(), 'edgeboot-cli-test-compile-cache'),
  };
  if (entry && opts.login !== false) {
    env.EDGEBOOT_URL = entry.baseUrl;
    env.EDGEBOOT_TOKEN = entry.adminToken;
  }
  const start = (args: string[], o: RunOptions = {}): RunningCli => {
    const childEnv: Record<string, string> = { ...env };
    for (const [k, v] of Object.entries(o.env ?? {})) {
      if (v === undefined) delete childEnv[k];
      else childEnv[k] = v;
    }
    const child = spawn(process.execPath, [program, ...args], { cwd: o.cwd ?? home, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const waiters: (() => void)[] = [];
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      for (const w of waiters) w();
    });
    child.stdin!.end(o.input ?? '');
    const timeoutMs = o.timeoutMs ?? 20_000;
    const done = new Promise<CliResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`edgeboot ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          code,
          signal,
          stdout,
          stderr,
          json() {
            try {
              return JSON.parse(stdout);
            } catch {
              throw new Error(`edgeboot ${args.join(' ')} printed no JSON (exit ${code}):\nstdout: ${stdout}\nstderr: ${stderr}`);
            }
          },
        });
      });
    });
    return {
      child,
      stdout: () => stdout,
      stderr: () => stderr,
      done,
      waitForStderr(text, ms = 15_000) {
        const hit = () => (typeof text === 'string' ? stderr.includes(text) : text.test(stderr));
        if (hit()) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`stderr never showed ${text}:\n${stderr}`)), ms);
          waiters.push(() => {
            if (hit()) {
              clearTimeout(timer);
              resolve();
            }
          });
          void done.then(() => {
            if (!hit()) {
              clearTimeout(timer);
              reject(new Error(`the CLI exited before stderr showed ${text}:\n${stderr}`));
            }
          });
        });
      },
    };
  };
  return {
    home,
    env,
    run: (args, o) => start(args, o).done,
    spawn: start,
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
}

/** Calls the API directly (to check what the CLI did, independently of the CLI); `token` null sends none. */
export async function api<T = any>(entry: SpawnedEntry, method: string, path: string, json?: unknown, token: string | null = entry.adminToken): Promise<{ status: number; body: T }> {
  const res = await fetch(`${entry.baseUrl}${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Every audit entry (newest first), to prove what a command sent, or that it sent nothing. */
export async function auditEntries(entry: SpawnedEntry, query = ''): Promise<{ action: string; result: string; target: string | null; status: number }[]> {
  const r = await api(entry, 'GET', `/v1/audit?limit=500${query ? `&${query}` : ''}`);
  return r.body.items;
}

/**
 * Runs that must succeed: `ok` asserts exit status 0 (the command line and stderr in the message),
 * `okJson` adds `--json` and parses stdout. `cli` is a getter: files create their CLI in beforeAll.
 */
export function succeeding(cli: () => Cli) {
  const ok = async (...args: string[]) => {
    const r = await cli().run(args);
    expect(r.code, `edgeboot ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };
  const okJson = async <T = any>(...args: string[]): Promise<T> => (await ok('--json', ...args)).json<T>();
  return { ok, okJson };
}
