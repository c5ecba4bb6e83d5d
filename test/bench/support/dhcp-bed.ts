/**
 * The test bed of test/bench/dhcp.ts: servers that all own the same address, one at a time on the wire,
 * the relay as sites run it (the bundle, enrolled, synced, shipping events to a real cloud), and the
 * probes a step reads (RSS, CPU, UDP receive-buffer overflows).
 *
 *   ns cli: br0 10.91.0.2/16 (perfdhcp) ─┬─ port p1 ── ns srv-a eth0 10.91.0.1/16 (relay)
 *                                         ├─ port p2 ── ns srv-b eth0 10.91.0.1/16 (dnsmasq)
 *                                         └─ …
 *
 * Every server keeps running; `use(name)` brings its bridge port up and the others' down (and forgets
 * the old neighbour), so perfdhcp talks to one server at a time at the same address, and a relay keeps
 * its state, memory and event queue across the whole sweep as on a site.
 *
 * The cloud is test/relay/support/test-cloud.ts (the real app over SQLite) in the benchmark's process,
 * reached from the relay's namespace through test/relay/support/lan.ts's unix-socket bridge, as the
 * LAN tests do: the benchmark process's CPU is then the cloud's (plus the bridge's piping).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from '../../../cloud/src/ports/sql-database.ts';
import { call, unique } from '../../contract/target.ts';
import { createTestbed, type Spawned, type Testbed } from '../../support/netns.ts';
import { cloudBridge, startForwarder, CLOUD_IN_NS, type CloudBridge } from '../../relay/support/lan.ts';
import { createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from '../../relay/support/test-cloud.ts';
import { saveCredentials, type Credentials } from '../../../relay/src/sync/credentials.ts';
import { buildRelay } from '../../../scripts/build-relay.ts';
import { SEA_EXEC_ARGV } from '../../../scripts/package-relay.ts';

export const SERVER_IP = '10.91.0.1';
export const CLIENT_IP = '10.91.0.2';
export const PREFIX = 16;
const CLK_TCK = 100;

/**
 * The relay bundle and its native parts as scripts/build-relay.ts makes them, written to `out` and
 * beside it (not relay/dist: tests running beside the benchmark build that one from a tree that may
 * be mid-edit).
 */
export const bundleRelay = (out: string): Promise<string> => buildRelay(out);

export interface DhcpBed {
  bed: Testbed;
  cli: string;
  /** Full namespace name of a server slot. */
  ns(name: string): string;
  /** Only this server's port is up: perfdhcp's packets to SERVER_IP reach it alone. */
  use(name: string): void;
  cleanup(): Promise<void>;
}

export async function createDhcpBed(servers: string[]): Promise<DhcpBed> {
  const bed = await createTestbed('dhcpbench');
  const cli = await bed.namespace('cli');
  await bed.lan('lan', { in: 'cli', address: `${CLIENT_IP}/${PREFIX}` });
  const ports = new Map<string, string>();
  for (const [i, name] of servers.entries()) {
    await bed.namespace(name);
    await bed.attach(name, 'lan', 'eth0', `${SERVER_IP}/${PREFIX}`);
    ports.set(name, `v${i + 1}`); // netns.ts names the bridge ports v1, v2, … in attach order
  }
  const ipIn = (ns: string, args: string[]) => {
    const r = spawnSyncIp(['netns', 'exec', ns, 'ip', ...args]);
    if (r) throw new Error(`ip ${args.join(' ')} in ${ns}: ${r}`);
  };
  const use = (name: string) => {
    for (const [n, port] of ports) if (n !== name) ipIn(cli, ['link', 'set', port, 'down']);
    ipIn(cli, ['link', 'set', ports.get(name)!, 'up']);
    // The server's MAC as a permanent neighbour: not learnt by the first packets of a step (the kernel
    // queues only 3 while it asks), nor left pointing at the previous server.
    const mac = /link\/ether (\S+)/.exec(spawnSync('ip', ['-n', bed.ns(name), 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout)?.[1];
    if (!mac) throw new Error(`no MAC for eth0 in ${name}`);
    ipIn(cli, ['neigh', 'replace', SERVER_IP, 'lladdr', mac, 'dev', 'br0', 'nud', 'permanent']);
  };
  const brMac = /link\/ether (\S+)/.exec(spawnSync('ip', ['-n', cli, 'link', 'show', 'br0'], { encoding: 'utf8' }).stdout)?.[1];
  for (const name of servers) ipIn(bed.ns(name), ['neigh', 'replace', CLIENT_IP, 'lladdr', brMac!, 'dev', 'eth0', 'nud', 'permanent']);
  use(servers[0]!);
  return { bed, cli, ns: (n) => bed.ns(n), use, cleanup: () => bed.cleanup() };
}

function spawnSyncIp(args: string[]): string | null {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return r.status === 0 ? null : r.stderr.trim() || `exit ${r.status}`;
}

// ── the cloud ──────────────────────────────────────────────────────────────────────────────────────
export interface BenchCloud {
  cloud: TestCloud;
  bridge: CloudBridge;
  unixPath: string;
  site: string;
  enroll(): Promise<Credentials>;
  /** Events the cloud has stored for the site so far. */
  events(): Promise<number>;
  close(): Promise<void>;
}

/** A site whose unknown machines netboot (a default profile): every perfdhcp MAC gets a boot answer. */
export async function startBenchCloud(work: string): Promise<BenchCloud> {
  const cloud = await startTestCloud();
  const site = await createSite(cloud);
  const kernel = await uploadImage(cloud, randomBytesOf(4096));
  const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('bench-linux'), spec: { kind: 'linux', kernel: kernel.id, initrds: [], cmdline: 'console=ttyS0' } } });
  if (profile.status !== 201) throw new Error(`profile: ${profile.status} ${profile.text}`);
  const patch = await call(cloud, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: (profile.body as { id: string }).id } });
  if (patch.status !== 200) throw new Error(`site default: ${patch.status} ${patch.text}`);
  const unixPath = join(work, 'cloud.sock');
  const bridge = await cloudBridge(cloud, unixPath);
  return {
    cloud,
    bridge,
    unixPath,
    site,
    enroll: () => enrolledCredentials(cloud, site),
    async events() {
      const row = await cloud.deps.db.first<{ n: number }>(sql('SELECT count(*) AS n FROM boot_events'));
      return Number(row?.n ?? NaN);
    },
    async close() {
      bridge.close();
      await cloud.close();
    },
  };
}

// ── the relay as shipped ───────────────────────────────────────────────────────────────────────────
export interface RelayProcess {
  process: Spawned;
  pid: number;
  forwarder: Spawned;
  stop(): Promise<void>;
}

/**
 * `node <bundle> run --config <stateDir>/relay.toml` in `ns` (pinned with taskset when `cpu` is given),
 * after its credentials were saved as `edgeboot-relay enroll` does; resolves once DHCP listens and the
 * first snapshot is in.
 */
export async function startRelay(b: DhcpBed, name: string, o: { bundle: string; cloud: BenchCloud; stateDir: string; toml: string; cpu?: number; nodeFlags?: string[] }): Promise<RelayProcess> {
  // The relay looks its interface up at start (getifaddrs lists only interfaces with a carrier): its port must be up.
  b.use(name);
  const creds = await o.cloud.enroll();
  saveCredentials(o.stateDir, { ...creds, cloudUrl: `http://${CLOUD_IN_NS}` });
  const forwarder = await startForwarder(b.bed, name, o.cloud.unixPath);
  const configPath = join(o.stateDir, 'relay.toml');
  writeFileSync(configPath, `state_dir = ${JSON.stringify(o.stateDir)}\n${o.toml}`);
  // As the packaged relay runs: the executable's V8 flags (scripts/package-relay.ts) and the unit's
  // MALLOC_ARENA_MAX (relay/edgeboot-relay.service), then any the benchmark adds.
  const cmd = [process.execPath, ...SEA_EXEC_ARGV, ...(o.nodeFlags ?? []), o.bundle, 'run', '--config', configPath];
  const env = { ...process.env, MALLOC_ARENA_MAX: '1' };
  const p = o.cpu === undefined ? b.bed.spawn(name, cmd[0]!, cmd.slice(1), { env }) : b.bed.spawn(name, 'taskset', ['-c', String(o.cpu), ...cmd], { env });
  const wait = (msg: string) => p.waitForLine((l) => l.includes(`"msg":${JSON.stringify(msg)}`), 30_000);
  await Promise.all([wait('dhcp listening'), wait('snapshot updated')]).catch((err: unknown) => {
    throw new Error(`the relay did not start: ${(err as Error).message}\n${[...p.stdout, ...p.stderr].slice(-40).join('\n')}`);
  });
  return {
    process: p,
    pid: p.pid,
    forwarder,
    async stop() {
      await p.kill();
      await forwarder.kill();
    },
  };
}

// ── probes ─────────────────────────────────────────────────────────────────────────────────────────
/** Resident set size in MB, NaN once gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** A process's or a thread's /proc directory: its name, utime + stime and time waited for a CPU (NaN without schedstat), in seconds. Throws once gone. */
function schedTimes(dir: string): { name: string; cpu: number; waited: number } {
  const stat = readFileSync(`${dir}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  const waited = orNaN(() => Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[1]) / 1e9);
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, waited };
}

const orNaN = (f: () => number): number => {
  try {
    return f();
  } catch {
    return NaN;
  }
};

/** utime + stime in seconds, NaN once gone. */
export const cpuSeconds = (pid: number): number => orNaN(() => schedTimes(`/proc/${pid}`).cpu);

/** Seconds the process's main thread was runnable but had no CPU (other load on its core), NaN once gone. */
export const waitedSeconds = (pid: number): number => orNaN(() => schedTimes(`/proc/${pid}`).waited);

/** Per thread of a process: its name, CPU seconds and seconds waited for a CPU, keyed by thread id. */
export function threadTimes(pid: number): Map<string, { name: string; cpu: number; waited: number }> {
  const out = new Map<string, { name: string; cpu: number; waited: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    // the process is gone
  }
  for (const tid of tids) {
    try {
      out.set(tid, schedTimes(`/proc/${pid}/task/${tid}`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** A namespace's UDP receive-buffer overflows so far (/proc/net/snmp is per namespace). */
export function rcvbufErrors(ns: string): number {
  const out = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout;
  const [names, nums] = out
    .split('\n')
    .filter((l) => l.startsWith('Udp:'))
    .map((l) => l.split(/\s+/).slice(1));
  return Number(nums![names!.indexOf('RcvbufErrors')]);
}

/** Peak RSS of a process, sampled every `everyMs` until stop(). */
export function rssWatch(pid: number, everyMs = 100): { peak(): number; reset(): void; stop(): void } {
  let peak = rssMb(pid);
  const t = setInterval(() => {
    const r = rssMb(pid);
    if (r > peak) peak = r;
  }, everyMs);
  t.unref();
  return { peak: () => peak, reset: () => void (peak = rssMb(pid)), stop: () => clearInterval(t) };
}

/** `***Timestamps for packets: DISCOVER-OFFER***` then `sent / received: 000000.000055 / 000000.000184` (perfdhcp -x t). */
export function perfdhcpLatencies(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  let current: number[] | null = null;
  for (const line of text.split('\n')) {
    const h = /^\*\*\*Timestamps for packets: (\S+)\*\*\*/.exec(line);
    if (h) {
      current = out[h[1]!] = [];
      continue;
    }
    const m = /^sent \/ received: ([\d.]+) \/ ([\d.]+)/.exec(line);
    if (m && current) current.push((Number(m[2]) - Number(m[1])) * 1000);
    else if (line.startsWith('***')) current = null;
  }
  return out;
}

/**
 * The exchanges of `name` slower than `overMs`, grouped into bursts (slow exchanges sent within
 * `gapMs` of each other): a burst is one stall of the server (or of the machine), and bursts a second
 * apart point at a timer. Times are perfdhcp's send times in seconds.
 */
export function slowBursts(text: string, name: string, overMs: number, gapMs = 50): Array<{ at: number; count: number; maxMs: number }> {
  const slow: Array<[number, number]> = [];
  let inside = false;
  for (const line of text.split('\n')) {
    const h = /^\*\*\*Timestamps for packets: (\S+)\*\*\*/.exec(line);
    if (h) {
      inside = h[1] === name;
      continue;
    }
    const m = inside ? /^sent \/ received: ([\d.]+) \/ ([\d.]+)/.exec(line) : null;
    if (!m) continue;
    const ms = (Number(m[2]) - Number(m[1])) * 1000;
    if (ms > overMs) slow.push([Number(m[1]), ms]);
  }
  slow.sort((a, b) => a[0] - b[0]);
  const out: Array<{ at: number; count: number; maxMs: number; last: number }> = [];
  for (const [sent, ms] of slow) {
    const b = out.at(-1);
    if (b && (sent - b.last) * 1000 <= gapMs) {
      b.count++;
      b.maxMs = Math.max(b.maxMs, ms);
      b.last = sent;
    } else out.push({ at: sent, count: 1, maxMs: ms, last: sent });
  }
  return out.map(({ at, count, maxMs }) => ({ at, count, maxMs }));
}

/** Nearest-rank quantile (0..1); NaN for none. Sorts in place. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
