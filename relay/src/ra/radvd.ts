import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../sync/atomic-file.ts';
import { backoffMs, sleep } from '../sync/backoff.ts';
import { probeInterface, readKernelFile, type InterfaceProblem } from './interface-probe.ts';
import { parseRaPrefix, RaConfigError, type RaPrefix } from './prefix.ts';
import { INTERFACE_NAME, renderRadvdConf } from './radvd-conf.ts';
import { classifyRadvdLine } from './radvd-log.ts';
import { ulaPrefixes } from './ula-store.ts';

/**
 * IPv6 router advertisements on LANs that have none, sent by Debian's radvd, which the relay
 * configures and supervises (Node cannot open a raw ICMPv6 socket).
 *
 * Why: iPXE configures IPv6 beside DHCPv4 and its "Configuring (net0 …)" line waits for both. With no
 * router on the LAN it solicits until its retry timer gives up: ~16 s for the 2019 iPXE in qemu's NIC
 * ROM and bookworm's package (retry.c defaults, 0.25 s doubling to 10 s), ~3.9 s for 2020-and-later
 * builds (ndp.c IPV6CONF_MIN/MAX_TIMEOUT, 1/8 s to 3 s). The first RA it hears ends the wait, whatever
 * it carries, unless M or O asks it to run DHCPv6 too (ndp.c, ipv6conf_rx_router_advertisement).
 *
 * Off unless a LAN asks for it: in proxy mode the site's router may already advertise, and a second,
 * different RA on its LAN would be wrong (radvd's "doesn't agree" lines are turned into a warning
 * that says so).
 *
 * What radvd needs (radvd 2.19, bookworm; radvd.c): CAP_NET_RAW (or root) for its ICMPv6 socket, and
 * nothing more with this configuration: no `-u` (that is for dropping root; the relay runs it as its
 * own user), and no IPv6 forwarding — without forwarding radvd only warns and advertises a zero router
 * lifetime, which radvd-conf.ts asks for anyway. Its config file must not be world-writable.
 */
export interface RaLan {
  /** The LAN interface, in the relay's network namespace. */
  name: string;
  /** null/undefined/'none': an RA without a prefix; 'ula': the relay's own ULA /64; else a /64. */
  prefix?: string | null;
}

export interface RouterAdvertisementsOptions {
  interfaces: readonly RaLan[];
  /** The relay's state directory: radvd.conf, radvd.pid and ula.json go in `<stateDir>/ra/`. */
  stateDir: string;
  log: Logger;
  /** Default: `radvd` on PATH, else /usr/sbin/radvd (Debian's place, outside a user's PATH). */
  radvdPath?: string;
  /** Restart delays after radvd exits: full-jitter backoff from `restartBaseMs` up to `restartCapMs`. */
  restartBaseMs?: number;
  restartCapMs?: number;
  /** How often the interfaces are checked again (a LAN that loses IPv6 is reported while running). */
  recheckMs?: number;
}

export type RaState = 'running' | 'restarting' | 'unavailable' | 'closed';

export interface RaStatus {
  /** 'unavailable': radvd is not installed or cannot run; the reason is in `error`. */
  state: RaState;
  /** radvd's process id while it runs. */
  pid: number | null;
  /** How many times radvd has been started. */
  starts: number;
  radvd: string;
  configPath: string;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  error: string | null;
  interfaces: Array<{ name: string; prefix: string | null; problem: InterfaceProblem | null }>;
}

export interface RouterAdvertisements {
  /** Stops radvd (SIGTERM, then SIGKILL after 5 s) and waits until it has exited. */
  close(): Promise<void>;
  status(): RaStatus;
}

/** A run that lasted this long was healthy: the next failure starts the backoff from the beginning. */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const CHECK_TIMEOUT_MS = 10_000;

/**
 * Validates the LANs (throws RaConfigError: a bad prefix or interface name is a configuration
 * mistake), writes `<stateDir>/ra/radvd.conf`, checks it with `radvd --configtest`, starts radvd and
 * keeps it running. Resolves once radvd has been started — or found missing, which is logged as an
 * error with the fix and does not reject: the relay's DHCP and TFTP work without RAs, only slower.
 */
export async function startRouterAdvertisements(opts: RouterAdvertisementsOptions): Promise<RouterAdvertisements> {
  const { log } = opts;
  const lans = resolveLans(opts.interfaces, opts.stateDir);
  const dir = join(opts.stateDir, 'ra');
  const configPath = join(dir, 'radvd.conf');
  const pidPath = join(dir, 'radvd.pid');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(configPath, renderRadvdConf(lans), 0o644);
  // radvd refuses a world-writable file only; 0644 whatever the umask (the unit's is 0077).
  chmodSync(configPath, 0o644);

  const radvd = opts.radvdPath ?? locate('radvd') ?? '/usr/sbin/radvd';
  const baseMs = opts.restartBaseMs ?? 1_000;
  const capMs = opts.restartCapMs ?? 60_000;
  const radvdLog = log.child('radvd');
  const stopping = new AbortController();

  let state: RaState = 'restarting';
  let child: ChildProcess | null = null;
  let starts = 0;
  let lastExit: RaStatus['lastExit'] = null;
  let error: string | null = null;

  // Interface checks: errors at once, passing states ('tentative', 'no-link-local') only when seen twice.
  const probes = new Map<string, { problem: InterfaceProblem | null; seen: number; logged: boolean }>();
  const probeAll = () => {
    for (const { name } of lans) {
      const problem = probeInterface(name, readKernelFile);
      const prev = probes.get(name);
      const entry = prev && prev.problem?.reason === problem?.reason ? { ...prev, seen: prev.seen + 1 } : { problem, seen: 1, logged: false };
      if (problem && !entry.logged && (problem.severity === 'error' || entry.seen >= 2)) {
        log[problem.severity](`no router advertisements on ${name}: ${problem.message}`, { interface: name, reason: problem.reason });
        entry.logged = true;
      }
      if (!problem && prev?.problem && prev.logged) log.info(`${name} can send router advertisements again`, { interface: name });
      probes.set(name, entry);
    }
  };
  probeAll();
  const recheck = setInterval(probeAll, opts.recheckMs ?? 5_000);
  recheck.unref();

  /** One configtest + run of radvd; resolves when it has exited (or could not start). */
  const runOnce = async (started: () => void): Promise<'exited' | 'unavailable'> => {
    const test = await runToEnd(radvd, ['--configtest', '--config', configPath, '--logmethod', 'stderr_clean']);
    if (test.spawnError) {
      const missing = test.spawnError === 'ENOENT';
      const reason = missing ? `radvd is not installed (no ${radvd})` : `cannot run ${radvd} (${test.spawnError})`;
      if (state !== 'unavailable' || error !== reason) {
        log.error(`${reason}: no router advertisements, so iPXE waits for IPv6 on every boot`, {
          fix: missing ? 'apt-get install radvd, or set ra = false for the LAN' : `make ${radvd} executable by the relay's user, or set ra = false`,
          lans: lans.map((l) => l.name),
        });
      }
      state = 'unavailable';
      error = reason;
      return 'unavailable';
    }
    if (test.code !== 0) {
      // The file is the relay's own: a rejection is a bug here or an unexpected radvd version.
      const reason = `radvd --configtest rejected ${configPath}: ${test.output.trim().split('\n').slice(-3).join(' | ')}`;
      if (error !== reason) log.error(reason, { code: test.code });
      state = 'unavailable';
      error = reason;
      return 'unavailable';
    }
    // Before every start, not only the first: an orphan that wrote its pid file late makes this
    // radvd exit ("unable to lock pid file"), and the restart after that must find it.
    await stopOrphan(pidPath, configPath, log);
    if (stopping.signal.aborted) return 'exited'; // close() came during the check: start nothing
    const proc = spawn(radvd, ['--nodaemon', '--config', configPath, '--pidfile', pidPath, '--logmethod', 'stderr_clean'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: string }>((resolve) => {
      proc.once('error', (e) => resolve({ code: null, signal: null, spawnError: (e as NodeJS.ErrnoException).code ?? e.message }));
      proc.once('close', (code, signal) => resolve({ code, signal }));
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      const c = classifyRadvdLine(line);
      if (c.kind === 'info') radvdLog.info(c.msg);
      else if (c.kind === 'repeating') radvdLog.once(c.key, c.msg);
      else if (c.kind === 'error') {
        error = c.fix ? `${c.msg}; ${c.fix}` : c.msg;
        radvdLog.error(c.msg, c.fix ? { fix: c.fix } : undefined);
      }
    });
    if (proc.pid !== undefined) {
      child = proc;
      starts++;
      state = 'running';
      error = null;
      log.info('radvd started', { pid: proc.pid, config: configPath, lans: lans.map((l) => ({ name: l.name, prefix: l.prefix })) });
      started();
    }
    const end = await exited;
    child = null;
    lastExit = { code: end.code, signal: end.signal, at: new Date().toISOString() };
    if (end.spawnError) error = `cannot run ${radvd} (${end.spawnError})`;
    return 'exited';
  };

  let firstAttempt!: () => void;
  const firstSettled = new Promise<void>((resolve) => (firstAttempt = resolve));
  const loop = (async () => {
    for (let attempt = 0; !stopping.signal.aborted; ) {
      const t0 = Date.now();
      const outcome = await runOnce(firstAttempt).catch((e: unknown) => {
        // Never let the supervisor die: the relay's other services go on, and the next try may work.
        error = `cannot start radvd: ${e instanceof Error ? e.message : String(e)}`;
        log.error(error);
        return 'exited' as const;
      });
      firstAttempt();
      if (stopping.signal.aborted) break;
      if (Date.now() - t0 >= STABLE_MS) attempt = 0;
      const wait = outcome === 'unavailable' ? capMs : Math.max(200, backoffMs(attempt++, baseMs, capMs));
      if (outcome === 'exited') {
        state = 'restarting';
        const exit = lastExit as RaStatus['lastExit']; // assigned inside runOnce, which TS does not follow
        log.warn('radvd exited; starting it again', { code: exit?.code, signal: exit?.signal, inMs: wait, ...(error ? { error } : {}) });
      }
      await sleep(wait, stopping.signal);
    }
    state = 'closed';
  })();
  await firstSettled;

  return {
    async close() {
      if (stopping.signal.aborted) return loop;
      stopping.abort();
      clearInterval(recheck);
      const proc = child;
      if (proc) {
        const kill = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
        proc.kill('SIGTERM');
        await loop;
        clearTimeout(kill);
        // radvd removes its pid file when it handles SIGTERM, but one stopped before it installed its
        // handlers (a close() right after start) dies of the signal and leaves the file behind.
        removeIfPid(pidPath, proc.pid);
        log.info('radvd stopped', { pid: proc.pid });
      }
      await loop;
    },
    status() {
      const pid = child?.pid ?? null;
      return {
        state,
        pid,
        starts,
        radvd,
        configPath,
        lastExit,
        error: state === 'running' ? null : error,
        interfaces: lans.map((l) => ({ name: l.name, prefix: l.prefix, problem: probes.get(l.name)?.problem ?? null })),
      };
    },
  };
}

/** Checks names and prefixes, and turns 'ula' into the relay's stored /64 for that interface. */
function resolveLans(interfaces: readonly RaLan[], stateDir: string): Array<{ name: string; prefix: string | null }> {
  if (interfaces.length === 0) throw new RaConfigError('router advertisements: no LAN interface given');
  const seen = new Set<string>();
  const parsed: Array<{ name: string; prefix: RaPrefix }> = interfaces.map((i) => {
    if (!INTERFACE_NAME.test(i.name)) throw new RaConfigError(`router advertisements: ${JSON.stringify(i.name)} is not an interface name`);
    if (seen.has(i.name)) throw new RaConfigError(`router advertisements: ${i.name} is listed twice`);
    seen.add(i.name);
    return { name: i.name, prefix: parseRaPrefix(i.prefix, `ra_prefix of ${i.name}`) };
  });
  const ulaNames = parsed.filter((p) => p.prefix === 'ula').map((p) => p.name);
  const ula = ulaNames.length ? ulaPrefixes(stateDir, ulaNames) : new Map<string, string>();
  return parsed.map((p) => ({ name: p.name, prefix: p.prefix === 'ula' ? ula.get(p.name)! : p.prefix }));
}

/**
 * A radvd left running by a relay that was killed (SIGKILL, a crash: nothing ran close()) still holds
 * the pid file's lock, and the new one would exit at once. It is stopped only when its command line
 * names this relay's own config file, so nobody else's radvd is touched.
 */
async function stopOrphan(pidPath: string, configPath: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidPath, 'utf8').trim(), 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return; // gone
  }
  if (!argv.includes(configPath)) return;
  log.warn('stopping a radvd left running by an earlier relay', { pid });
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; alive() && waited < STOP_GRACE_MS; waited += 50) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
}

function removeIfPid(pidPath: string, pid: number | undefined): void {
  try {
    if (readFileSync(pidPath, 'utf8').trim() === String(pid)) unlinkSync(pidPath);
  } catch {
    // already gone
  }
}

function runToEnd(cmd: string, args: string[]): Promise<{ code: number | null; output: string; spawnError?: string }> {
  return new Promise((resolve) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4096)));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4096)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHECK_TIMEOUT_MS);
    proc.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, output, spawnError: (e as NodeJS.ErrnoException).code ?? e.message });
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function locate(program: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/sbin']) {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {
      // next
    }
  }
  return null;
}
