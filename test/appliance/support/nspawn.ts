/**
 * A Debian box under a real systemd: `systemd-nspawn --boot` on a copy of the cached root
 * (debian-root.ts), in a network namespace of the test's bed, so whatever it serves is reached from
 * the bed's other namespaces only. The host's PID 1 need not be systemd (`--register=no
 * --keep-unit`: no machined, no scope). Commands run inside with nsenter into the container's PID 1.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Box {
  /** The container's init, as the host sees it. */
  leader: number;
  /** Runs `cmd` inside (all namespaces of PID 1); never rejects on a non-zero exit. */
  sh(cmd: string, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Console output so far. */
  console(): string;
  /** Powers the container off and waits for nspawn to exit. */
  poweroff(): Promise<void>;
  kill(): Promise<void>;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The container's init: the child of nspawn whose own PID namespace differs from nspawn's. */
function leaderOf(nspawnPid: number): number | null {
  let children: string[];
  try {
    children = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return null;
  }
  for (const c of children) {
    try {
      const status = readFileSync(`/proc/${c}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
      if (nspid && nspid[nspid.length - 1] === '1') return Number(c);
    } catch {
      // gone
    }
  }
  return null;
}

/**
 * SIGKILL for a booted box: its init first, then nspawn's process group. The init lives in the
 * container's own session and PID namespace, so killing nspawn alone left it (and the relay under it)
 * running, adopted by the host's init, after every suite run; the kernel ends a PID namespace's every
 * process when its init dies.
 */
function killBox(leader: number, nspawnPid: number): void {
  for (const pid of [leader, -nspawnPid]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export async function bootBox(root: string, netnsName: string, name: string): Promise<Box> {
  const child: ChildProcess = spawn(
    'systemd-nspawn',
    ['-D', root, '--boot', '--register=no', '--keep-unit', `--machine=${name}`, `--network-namespace-path=/run/netns/${netnsName}`, '--console=read-only', '--resolv-conf=off', '--timezone=off', '--link-journal=no'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const done = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const leader = await until('the container to start', async () => (exited ? Promise.reject(new Error(out)) : leaderOf(child.pid!)), 30_000).catch((e: Error) => {
    throw new Error(`systemd-nspawn did not start: ${e.message}\n${out.slice(-3000)}`);
  });
  const sh: Box['sh'] = async (cmd, timeoutMs = 120_000) => {
    try {
      const r = await exec('nsenter', ['-t', String(leader), '-a', '/bin/sh', '-c', cmd], { timeout: timeoutMs, maxBuffer: 16 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
    }
  };
  // "running" or "degraded" (a unit the container cannot run, e.g. one needing hardware): booted either way.
  await until('systemd to finish booting', async () => /^(running|degraded)/.test((await sh('systemctl is-system-running')).stdout.trim()), 120_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${out.slice(-3000)}`);
  });
  return {
    leader,
    sh,
    console: () => out,
    poweroff: async () => {
      if (exited) return;
      await sh('systemctl poweroff --no-block');
      await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
      if (!exited) killBox(leader, child.pid!);
      await done;
    },
    kill: async () => {
      if (exited) return;
      killBox(leader, child.pid!);
      await done;
    },
  };
}

export { until };
