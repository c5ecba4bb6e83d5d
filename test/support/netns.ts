/**
 * Linux network-namespace test beds: LANs of namespaces joined by a bridge, with real peers (dnsmasq,
 * curl, a scripted PXE client, the relay) started inside them. The test runner stays in the host
 * namespace; children enter theirs with `ip netns exec`. Needs root and iproute2.
 *
 *   const bed = await createTestbed('dhcp');
 *   await bed.namespace('router');
 *   await bed.lan('lan');
 *   await bed.attach('router', 'lan', 'eth0', '10.88.0.1/24');
 *   const d = bed.spawn('router', 'dnsmasq', [...]);
 *   await d.waitForLine(/DHCP, IP range/);
 *   ...
 *   await bed.cleanup();
 *
 * Every namespace is named `eb-<tag>-<pid>-<n>-<name>`, so a later run can tell a leftover of a crashed
 * run (its pid is gone) from a bed another live process owns. Interfaces inside namespaces have fixed
 * short names (`br0`, `eth0`, `v<n>`): namespace names may be long, interface names stop at 15 bytes.
 */
import { execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';

const PREFIX = 'eb';
/** `eb-<tag>-<pid>-<n>-<name>`: the owner's pid is the third field. */
const OURS = /^eb-[a-z0-9]+-(\d+)-\d+-/;
const KILL_GRACE_MS = 2000;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Full namespace name the process runs in. */
  ns: string;
  /** Lines printed so far, per stream, without newlines. */
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (stdout or stderr, past or future) that matches; rejects on timeout or exit. */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** SIGTERM to the process group, SIGKILL after a grace period; resolves once it has exited. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** 'pipe' to write to the child's stdin; default 'ignore'. */
  stdin?: 'pipe' | 'ignore';
}

export interface AttachOptions {
  /** Hardware address of the interface inside `ns` (a DHCP client's chaddr must be its own MAC). */
  mac?: string;
  /** Route 255.255.255.255 out of this interface (default true); false: no such route, as on a real box. */
  broadcastRoute?: boolean;
}

export interface Testbed {
  prefix: string;
  /** Creates netns `<prefix>-<name>` with `lo` up; returns the full name. */
  namespace(name: string): Promise<string>;
  /** The full name of a namespace of this bed, given its short or full name. */
  ns(name: string): string;
  /**
   * A LAN: bridge `br0` in its own namespace `<prefix>-<name>`, or in namespace `opts.in` of this bed
   * (then that namespace is on the LAN itself, with `opts.address` on br0).
   */
  lan(name: string, opts?: { in?: string; address?: string }): Promise<void>;
  /**
   * Connects `ns` to a LAN with a veth whose inner end is `ifname`, optionally addressed (a DHCP client
   * namespace starts without one), and routes 255.255.255.255 out of it.
   */
  attach(ns: string, lan: string, ifname?: string, address?: string, opts?: AttachOptions): Promise<void>;
  /**
   * Makes `ns` deliver every packet arriving on `ifname` locally, whatever its destination address: a
   * DHCP client owns no address yet, but servers unicast OFFER/ACK to yiaddr at chaddr when the
   * broadcast flag is clear (RFC 2131 §4.1; iPXE clears it), and the kernel would drop those as not ours.
   */
  acceptAnyDestination(ns: string, ifname?: string): Promise<void>;
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): Spawned;
  /** Runs to completion (killed after `timeoutMs`, default 10 s); never rejects on a non-zero exit. */
  run(ns: string, cmd: string, args: string[], opts?: SpawnOptions & { timeoutMs?: number }): Promise<RunResult>;
  /** Kills every process this bed started and deletes every namespace it made. */
  cleanup(): Promise<void>;
}

let bedCount = 0;
/** Namespaces and process groups of every live bed, for the synchronous exit hook. */
const liveNamespaces = new Set<string>();
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/**
 * A fresh bed. Checks for root and `ip`, and first removes what crashed runs left behind.
 * `tag` is a short lower-case word naming the test file's subject.
 */
export async function createTestbed(tag: string): Promise<Testbed> {
  if (!/^[a-z0-9]{1,12}$/.test(tag)) throw new Error(`testbed tag ${JSON.stringify(tag)}: use 1–12 lower-case letters or digits`);
  if (process.getuid?.() !== 0) throw new Error('network-namespace tests need root (ip netns add)');
  requireTools(['ip']);
  removeStaleNamespaces();
  installExitHook();

  const prefix = `${PREFIX}-${tag}-${process.pid}-${++bedCount}`;
  const made = new Map<string, string>(); // short name → full name
  const bridges = new Map<string, string>(); // LAN name → full name of the namespace holding br0
  const procs = new Set<Spawned>();
  let ports = 0;

  const ns = (name: string): string => {
    const full = made.get(name) ?? ([...made.values()].includes(name) ? name : undefined);
    if (!full) throw new Error(`namespace ${name} is not part of testbed ${prefix}`);
    return full;
  };
  const ip = (args: string[]) => ipSync(args);
  const inNs = (full: string, args: string[]) => ipSync(['netns', 'exec', full, 'ip', ...args]);

  const bed: Testbed = {
    prefix,
    ns,

    async namespace(name) {
      if (!/^[a-z0-9-]{1,32}$/.test(name)) throw new Error(`namespace name ${JSON.stringify(name)}: use lower-case letters, digits, dashes`);
      if (made.has(name)) throw new Error(`namespace ${name} exists in testbed ${prefix}`);
      const full = `${prefix}-${name}`;
      ip(['netns', 'add', full]);
      made.set(name, full);
      liveNamespaces.add(full);
      inNs(full, ['link', 'set', 'lo', 'up']);
      return full;
    },

    async lan(name, opts = {}) {
      if (bridges.has(name)) throw new Error(`LAN ${name} exists in testbed ${prefix}`);
      const host = opts.in ? ns(opts.in) : await bed.namespace(name);
      // STP stays off (the default), so ports forward at once instead of after the 15 s forward delay.
      inNs(host, ['link', 'add', 'br0', 'type', 'bridge']);
      if (opts.address) inNs(host, ['addr', 'add', opts.address, 'dev', 'br0']);
      inNs(host, ['link', 'set', 'br0', 'up']);
      if (opts.address) inNs(host, ['route', 'replace', '255.255.255.255/32', 'dev', 'br0']);
      bridges.set(name, host);
    },

    async attach(name, lan, ifname = 'eth0', address, opts = {}) {
      const full = ns(name);
      const host = bridges.get(lan);
      if (!host) throw new Error(`LAN ${lan} is not part of testbed ${prefix}`);
      if (host === full) throw new Error(`namespace ${name} holds LAN ${lan}'s bridge; give lan() an address instead`);
      // Both ends are born inside namespaces, so no interface name ever appears in the host namespace.
      const port = `v${++ports}`;
      inNs(host, ['link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', full]);
      inNs(host, ['link', 'set', port, 'master', 'br0', 'up']);
      if (opts.mac) inNs(full, ['link', 'set', ifname, 'address', opts.mac]);
      if (address) inNs(full, ['addr', 'add', address, 'dev', ifname]);
      inNs(full, ['link', 'set', ifname, 'up']);
      // Sends to 255.255.255.255 follow the routing table: without a default route they fail with
      // ENETUNREACH. `replace`: the last LAN attached owns the limited broadcast. `broadcastRoute: false`
      // leaves the table as a fresh box has it (the relay must answer without that route).
      if (opts.broadcastRoute !== false) inNs(full, ['route', 'replace', '255.255.255.255/32', 'dev', ifname]);
    },

    async acceptAnyDestination(name, ifname = 'eth0') {
      const full = ns(name);
      // The TPROXY recipe: packets coming in on ifname look up table 100, whose only route says every
      // address is local. Locally sent packets still use the ordinary tables.
      inNs(full, ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100']);
      inNs(full, ['rule', 'add', 'iif', ifname, 'lookup', '100', 'pref', '100']);
      // ARP checks a target address with that same input route lookup, so the namespace would answer
      // ARP for every address on the LAN and steal its neighbours' traffic. arp_ignore=1 answers only
      // for addresses configured on the interface.
      ipSync(['netns', 'exec', full, 'sh', '-c', 'echo 1 > "/proc/sys/net/ipv4/conf/$1/arp_ignore"', 'sh', ifname]);
    },

    spawn(name, cmd, args, opts = {}) {
      const sp = spawnIn(ns(name), cmd, args, opts);
      procs.add(sp);
      liveGroups.add(sp.pid);
      void sp.exited.then(() => {
        procs.delete(sp);
        liveGroups.delete(sp.pid);
      });
      return sp;
    },

    async run(name, cmd, args, opts = {}) {
      const sp = bed.spawn(name, cmd, args, opts);
      // The exact text, not the lines: a missing final newline is part of what a command printed.
      let stdout = '';
      let stderr = '';
      sp.child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      sp.child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => void sp.kill(), opts.timeoutMs ?? 10_000);
      const { code, signal } = await sp.exited;
      clearTimeout(timer);
      return { code, signal, stdout, stderr };
    },

    async cleanup() {
      await Promise.all([...procs].map((p) => p.kill()));
      for (const full of made.values()) {
        // A namespace outlives `ip netns del` while a process is inside it; the kills above prevent that.
        tryIp(['netns', 'del', full]);
        liveNamespaces.delete(full);
      }
      made.clear();
      bridges.clear();
    },
  };
  return bed;
}

function spawnIn(full: string, cmd: string, args: string[], opts: SpawnOptions): Spawned {
  // detached: the child leads its own process group, so a kill reaches whatever it forks, and only that.
  const child = spawnChild('ip', ['netns', 'exec', full, cmd, ...args], {
    detached: true,
    env: opts.env,
    cwd: opts.cwd,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${full}`);
  const pid = child.pid;
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<(line: string) => void>();
  const onLine = (into: string[]) => (line: string) => {
    into.push(line);
    for (const w of [...waiters]) w(line);
  };
  createInterface({ input: child.stdout! }).on('line', onLine(stdout));
  createInterface({ input: child.stderr! }).on('line', onLine(stderr));

  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
    // 'close', not 'exit': the streams have delivered their last lines by then.
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });

  const describe = () => `${cmd} in ${full} (pid ${pid})\n--- stdout\n${stdout.slice(-30).join('\n')}\n--- stderr\n${stderr.slice(-30).join('\n')}`;

  return {
    child,
    pid,
    ns: full,
    stdout,
    stderr,
    exited,
    waitForLine(match, timeoutMs = 10_000) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      const seen = [...stdout, ...stderr].find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const finish = (err: Error | null, line = '') => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (err) reject(err);
          else resolve(line);
        };
        const waiter = (line: string) => {
          if (test(line)) finish(null, line);
        };
        const timer = setTimeout(() => finish(new Error(`no line matching ${String(match)} within ${timeoutMs} ms from ${describe()}`)), timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code, signal }) => finish(new Error(`exited (${code ?? signal}) before a line matching ${String(match)} from ${describe()}`)));
      });
    },
    async kill() {
      if (done) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
      await exited;
      clearTimeout(timer);
      // The leader is gone; anything it forked into the group goes too.
      signalGroup(pid, 'SIGKILL');
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group has already gone.
  }
}

function ipSync(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (e as Error).message}`);
  }
}

function tryIp(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // already gone
  }
}

/**
 * Synchronous, because an 'exit' listener cannot wait: a run that ends without cleanup() (a crash, a
 * forgotten afterAll) still leaves no process and no namespace behind.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
    for (const full of liveNamespaces) tryIp(['netns', 'del', full]);
  });
}

/**
 * Deletes namespaces named by this module whose owning process no longer runs (a run killed with
 * SIGKILL gets no exit hook), after killing the processes still inside them — ones a bed started.
 * Returns the names removed.
 */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const full of listNamespaces()) {
    const owner = OURS.exec(full)?.[1];
    if (!owner || pidAlive(Number(owner))) continue;
    for (const pid of namespacePids(full)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    tryIp(['netns', 'del', full]);
    removed.push(full);
  }
  return removed;
}

/** Names of every namespace `ip netns` knows. */
export function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  // Lines look like `name (id: 3)` or just `name`.
  return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

function namespacePids(full: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', full], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive, owned by someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The Debian package that provides each tool the tests (and the demo) run. */
const PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  dnsmasq: 'dnsmasq-base',
  udhcpc: 'udhcpc',
  busybox: 'busybox',
  ping: 'iputils-ping',
  tcpdump: 'tcpdump',
  curl: 'curl',
  tftp: 'tftp-hpa',
  atftp: 'atftp',
  'qemu-system-x86_64': 'qemu-system-x86',
  'apt-get': 'apt',
  'dpkg-deb': 'dpkg',
  mformat: 'mtools',
  syslinux: 'syslinux',
  dhcrelay: 'isc-dhcp-relay',
  radvd: 'radvd',
  rdisc6: 'ndisc6',
  setpriv: 'util-linux',
  perl: 'perl-base',
};

/**
 * What this machine lacks, each with the Debian package that provides it: `tools` are commands looked
 * up on PATH, `files` absolute paths with their package.
 */
export function missingPeers(tools: string[], files: Array<[path: string, pkg: string]> = []): Array<{ what: string; pkg: string }> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const out = tools.filter((t) => !dirs.some((d) => can(join(d, t), constants.X_OK))).map((t) => ({ what: t, pkg: PACKAGES[t] ?? `(the package providing ${t})` }));
  for (const [path, pkg] of files) if (!can(path, constants.R_OK)) out.push({ what: path, pkg });
  return out;
}

/**
 * Throws, naming the Debian packages, when a tool is not on PATH. Tests call it and fail: a missing
 * peer must not turn into a silently skipped test.
 */
export function requireTools(tools: string[]): void {
  const missing = missingPeers(tools);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  throw new Error(`missing tools: ${missing.map((m) => m.what).join(', ')} — install the Debian packages: apt-get install ${pkgs.join(' ')}`);
}

function can(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}
