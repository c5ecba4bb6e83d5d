import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ApiTarget } from '../contract/target.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface SpawnedEntry extends ApiTarget {
  baseUrl: string;
  dataDir: string;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /** Stops exactly this child (SIGTERM, then SIGKILL) and removes its data folder. */
  stop(): Promise<void>;
}

/**
 * Starts an entry as a child process with a fresh data folder and a known admin token, and resolves
 * once it prints its address. `listening` must capture the base URL from a line of its output.
 */
export async function spawnEntry(options: {
  name: string;
  command: string;
  /** Arguments, given the child's fresh data folder (for permission flags). */
  args: (dataDir: string) => string[];
  listening: RegExp;
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** An existing data folder (a restart keeps its data); it is then left in place by stop(). */
  dataDir?: string;
}): Promise<SpawnedEntry> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `edgeboot-${options.name}-`));
  const adminToken = `ebt_${options.name.replace(/[^a-z0-9]/gi, '')}admintoken`.padEnd(36, '0');
  const child = spawn(options.command, options.args(dataDir), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', EDGEBOOT_DATA: dataDir, EDGEBOOT_ADMIN_TOKEN: adminToken, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const baseUrl = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`${options.name} did not start in time:\n${output}`)), options.startTimeoutMs ?? 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const m = options.listening.exec(output);
        if (m?.[1]) {
          clearTimeout(timer);
          ok(m[1].replace(/\/$/, ''));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) => fail(err));
      child.once('exit', (code, signal) => fail(new Error(`${options.name} exited (${code ?? signal}) before listening:\n${output}`)));
    });
    return {
      name: options.name,
      adminToken,
      baseUrl,
      dataDir,
      output: () => output,
      stop,
      // Node's fetch sends a stream body only when told it is half-duplex (Fetch spec, `duplex`).
      fetch: (path, init) => fetch(`${baseUrl}${path}`, { ...init, duplex: 'half' } as RequestInit),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
