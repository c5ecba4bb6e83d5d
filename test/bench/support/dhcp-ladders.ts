/**
 * The earlier DHCP benchmark, kept for its rate ladders and avalanches: the relay's dhcpService() alone
 * in a process with a no-op event sink (support/dhcp-relay.ts), not the relay as shipped — test/bench/dhcp.ts
 * is that. Run it directly:
 *
 *   node test/bench/support/dhcp-ladders.ts [-- options below]
 *
 * Benchmark (not a test): the relay's DHCP server against the references, same client, same run, driven by
 * perfdhcp (Debian kea-admin) inside network namespaces this script creates. Each server gets its own
 * namespace and /16, joined to the client namespace by a veth pair:
 *
 *   ns srv-<i>  eth0 10.<91+i>.0.1/16  ── veth ──  v<i> 10.<91+i>.0.2/16  ns cli (perfdhcp)
 *
 * so all the servers of a comparison run at once and the ladders interleave them rate by rate: drift on
 * the machine (other load, a slower host core) hits every server alike.
 *
 * 1. proxyDHCP: PXE DISCOVERs (60 `PXEClient:Arch:00007:UNDI:003016`, 93 = 7, 97 a GUID) → OFFER only
 *    (`perfdhcp -i`): the relay in proxy mode vs dnsmasq `--dhcp-range=…,proxy` + `--pxe-service`, as is
 *    (a log line per request) and with --quiet-dhcp. Highest rate answered with < 1% lost, its delays, and
 *    a storm of 5,000 PXE clients at once.
 * 2. Full DHCP: DISCOVER-OFFER-REQUEST-ACK at increasing rates, and avalanches of 1,000 and 5,000 new
 *    clients (time until every one holds a lease): the relay in dhcp mode vs ISC Kea (memfile) vs dnsmasq
 *    with its defaults (ping before offering, lease file rewritten per change) and with --no-ping.
 *
 * A ladder step passes when fewer than 1% of the exchanges started went unanswered within perfdhcp's drop
 * time (its default, 1 s; `-W` lets replies in flight at the end arrive). A server leaves the ladder at its
 * first failing step (after one retry), or when the loss was perfdhcp's own (it could not send at the rate,
 * or it ran out of CPU and its socket overflowed): then its figure is a lower bound. Servers start fresh
 * (empty leases) for the ladders and for each avalanche. "kernel drops" are UDP RcvbufErrors (a full socket receive queue) in the server's
 * namespace and in perfdhcp's; "CPU" is user+system time of the server process over the step, and "waited"
 * the time its main thread was ready to run but had no CPU (other load on the machine: the figures of a step
 * with a long wait say more about the machine than about the server).
 *
 * By default the server runs pinned to CPU 1 and perfdhcp to CPU 0 (`--no-pin`: they share both): with two
 * cores, perfdhcp's two threads and the server otherwise fight, and the figures scatter.
 *
 *   node test/bench/support/dhcp-ladders.ts [--seconds 4 --proxy-seconds 3 --only proxy|full --slow --no-pin
 *                         --relay-node-flags="--cpu-prof --cpu-prof-dir=DIR"]
 *
 * `--slow` runs dnsmasq's avalanches to the end (its defaults: ~100 s for 1,000 clients here) and adds its
 * 5,000-client ones. Needs root, iproute2, util-linux (taskset), perfdhcp (kea-admin), kea-dhcp4
 * (kea-dhcp4-server) and dnsmasq; GNU time (`time`) adds perfdhcp's CPU use. Only the processes started
 * here are stopped, and only the namespaces created here are deleted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { perfdhcp, type PerfdhcpResult } from '../lib/perfdhcp.ts';
import { stopChild } from '../lib/process.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    'proxy-seconds': { type: 'string', default: '3' },
    only: { type: 'string' },
    slow: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: true },
    'relay-node-flags': { type: 'string', default: '' },
  },
  allowNegative: true,
});
const SECONDS = Number(values.seconds);
const PROXY_SECONDS = Number(values['proxy-seconds']);
const SLOW = values.slow!;

const PROXY_LADDER = [3000, 6000, 9000, 12000, 15000, 20000];
const FULL_LADDER = [100, 400, 1000, 3000, 6000, 8000, 10000, 12000];
/** Distinct simulated clients in the ladders (MACs repeat: a returning client keeps its lease). */
const LADDER_CLIENTS = 10_000;
const PASS_LOSS = 0.01;
/** perfdhcp stops listening the moment its period ends unless told to wait: replies in flight would count as lost. */
const EXIT_WAIT_US = 1_000_000;
const CORES = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || 1;
const PIN = values.pin! && CORES >= 2;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const GNU_TIME = spawnSync('sh', ['-c', 'test -x /usr/bin/time']).status === 0 ? '/usr/bin/time' : null;

/** What a PXE ROM on x86-64 UEFI sends (OVMF, FIELD-NOTES), as perfdhcp `-o code,hex` options. */
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const PXE_OPTIONS = ['-o', `60,${hex('PXEClient:Arch:00007:UNDI:003016')}`, '-o', '93,0007', '-o', '97,000f8d2c4e5a6b4d7c8e9fa1b2c3d4e5f6'];

if (process.getuid?.() !== 0) {
  console.error('this benchmark creates network namespaces: run it as root');
  process.exit(2);
}
for (const [tool, pkg] of [['ip', 'iproute2'], ['ss', 'iproute2'], ['taskset', 'util-linux'], ['perfdhcp', 'kea-admin'], ['kea-dhcp4', 'kea-dhcp4-server'], ['dnsmasq', 'dnsmasq-base']]) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`${tool} is needed for this benchmark (apt-get install ${pkg})`);
    process.exit(2);
  }
}

// ── the test bed ───────────────────────────────────────────────────────────────────────────────────
/** One server's namespace and network. */
interface Slot {
  ns: string;
  /** Interface on perfdhcp's side. */
  clientIf: string;
  net: string;
  serverIp: string;
  clientIp: string;
  first: string;
  last: string;
}
const IF = 'eth0';
const SLOTS = 4;
/** test/support/netns.ts naming (`eb-<tag>-<pid>-<n>-<name>`): a leftover of a crashed run is recognisable. */
const CLIENT_NS = `eb-dhcpbench-${process.pid}-0-cli`;
const slots: Slot[] = Array.from({ length: SLOTS }, (_, i) => {
  const net = `10.${91 + i}`;
  return { ns: `eb-dhcpbench-${process.pid}-${i + 1}-srv${i}`, clientIf: `v${i}`, net, serverIp: `${net}.0.1`, clientIp: `${net}.0.2`, first: `${net}.1.1`, last: `${net}.255.254` };
});
const dir = mkdtempSync(join(tmpdir(), 'eb-bench-dhcp-'));
const children = new Set<ChildProcess>();
const track = (child: ChildProcess) => {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function createBed(): void {
  ip('netns', 'add', CLIENT_NS);
  ip('-n', CLIENT_NS, 'link', 'set', 'lo', 'up');
  for (const s of slots) {
    ip('netns', 'add', s.ns);
    ip('link', 'add', IF, 'netns', s.ns, 'type', 'veth', 'peer', 'name', s.clientIf, 'netns', CLIENT_NS);
    ip('-n', s.ns, 'link', 'set', 'lo', 'up');
    ip('-n', s.ns, 'addr', 'add', `${s.serverIp}/16`, 'dev', IF);
    ip('-n', s.ns, 'link', 'set', IF, 'up');
    // Replies to 255.255.255.255 follow the routing table (FIELD-NOTES): pin them to the LAN.
    ip('-n', s.ns, 'route', 'add', '255.255.255.255/32', 'dev', IF);
    ip('-n', CLIENT_NS, 'addr', 'add', `${s.clientIp}/16`, 'dev', s.clientIf);
    ip('-n', CLIENT_NS, 'link', 'set', s.clientIf, 'up');
  }
}

function deleteBed(): void {
  for (const ns of [CLIENT_NS, ...slots.map((s) => s.ns)]) spawnSync('ip', ['netns', 'del', ns]);
}

/** A server process in a slot's namespace; with --pin on CPU 1. `ip netns exec` and taskset exec it: its pid is the server's. */
function inSlot(slot: Slot, cmd: string, args: string[], env?: NodeJS.ProcessEnv, outFd?: number): ChildProcess {
  const stdio = outFd === undefined ? (['ignore', 'pipe', 'pipe'] as const) : (['ignore', outFd, outFd] as const);
  return track(spawn('ip', ['netns', 'exec', slot.ns, ...(PIN ? ['taskset', '-c', '1'] : []), cmd, ...args], { stdio: [...stdio], env: { ...process.env, ...env } }));
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A namespace's UDP receive-buffer overflows so far (/proc/net/snmp is per namespace). */
function rcvbufErrors(ns: string): number {
  const lines = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, nums] = lines.map((l) => l.split(/\s+/).slice(1));
  return Number(nums![names!.indexOf('RcvbufErrors')]);
}

function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15 of stat)
  } catch {
    return NaN;
  }
}

/** Nanoseconds the process's main thread has spent runnable but waiting for a CPU (other load on its core). */
function runQueueWait(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
}

function runPerfdhcp(slot: Slot, args: string[], timeoutMs: number): Promise<PerfdhcpResult> {
  return perfdhcp({ ns: CLIENT_NS, local: slot.clientIp, server: slot.serverIp, args, timeoutMs, time: GNU_TIME, onSpawn: track, ...(PIN ? { cpu: 0 } : {}) });
}

// ── servers ────────────────────────────────────────────────────────────────────────────────────────
interface Running {
  pid: number;
  /** Stops the server; the relay answers with its counters line. */
  stop(): Promise<string>;
}
interface Server {
  name: string;
  start(slot: Slot): Promise<Running>;
}

/** Resolves once something listens on UDP :67 in the slot (or rejects if the child exits). */
async function listening(slot: Slot, child: ChildProcess, name: string, log: () => string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${log()}`);
    if (spawnSync('ip', ['netns', 'exec', slot.ns, 'ss', '-Huln', 'sport = :67'], { encoding: 'utf8' }).stdout.trim()) return;
    await sleep(100);
  }
  throw new Error(`${name} did not start listening on :67:\n${log()}`);
}

/**
 * A native server, its output to a file in its temp dir (as to syslog: dnsmasq logs every exchange by
 * default, and a pipe read by this process would slow it down).
 */
function native(name: string, cmd: string, args: (slot: Slot, d: string) => string[], env?: (d: string) => NodeJS.ProcessEnv): Server {
  return {
    name,
    async start(slot) {
      const d = mkdtempSync(join(dir, `${name.replace(/\W+/g, '-')}-`));
      const logFile = join(d, 'output.log');
      const fd = openSync(logFile, 'w');
      const child = inSlot(slot, cmd, args(slot, d), env?.(d), fd);
      closeSync(fd);
      await listening(slot, child, name, () => readFileSync(logFile, 'utf8').slice(-4000));
      await sleep(200);
      return { pid: child.pid!, stop: () => stopChild(child).then(() => '') };
    },
  };
}

/** test/bench/support/dhcp-relay.ts: the relay's dhcpService() alone. */
function relay(mode: 'proxy' | 'dhcp'): Server {
  return {
    name: `relay (${mode})`,
    async start(slot) {
      const d = mkdtempSync(join(dir, `relay-${mode}-`));
      const flags = values['relay-node-flags']!.split(' ').filter(Boolean);
      const args = [...flags, join(import.meta.dirname, 'dhcp-relay.ts'), '--mode', mode, '--state-dir', d, '--interface', IF, '--public-url', `http://${slot.serverIp}:8080`];
      if (mode === 'dhcp') args.push('--range', `${slot.first},${slot.last}`);
      const child = inSlot(slot, process.execPath, args);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const t0 = Date.now();
      while (!/^ready /m.test(out)) {
        if (child.exitCode !== null) throw new Error(`dhcp-relay.ts exited with ${child.exitCode}:\n${out}`);
        if (Date.now() - t0 > 20_000) throw new Error(`dhcp-relay.ts did not get ready in 20 s:\n${out}`);
        await sleep(50);
      }
      return {
        pid: child.pid!,
        stop: async () => {
          await stopChild(child);
          return /^stats (.*)$/m.exec(out)?.[1] ?? `(no counters: ${out.slice(-500)})`;
        },
      };
    },
  };
}

const dnsmasqCommon = (d: string) => ['--no-daemon', '--conf-file=/dev/null', '--port=0', `--pid-file=${d}/dnsmasq.pid`, `--dhcp-leasefile=${d}/dnsmasq.leases`];

/**
 * test/relay/dhcp/fixtures/regenerate.sh's proxy: a menu entry per firmware class, iPXE sent to HTTP. With
 * `quiet`, --quiet-dhcp: no log line per request (the relay logs none either).
 */
const dnsmasqProxy = (quiet: boolean) =>
  native(quiet ? 'dnsmasq proxy quiet' : 'dnsmasq proxy', 'dnsmasq', (slot, d) => [
    ...dnsmasqCommon(d),
    ...(quiet ? ['--quiet-dhcp'] : []),
    `--dhcp-range=${slot.net}.0.0,proxy,255.255.0.0`,
    '--dhcp-userclass=set:ipxe,iPXE',
    '--pxe-prompt=edgeboot,0',
    '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly',
    '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
    `--pxe-service=tag:ipxe,x86PC,edgeboot,http://${slot.serverIp}:8080/boot`,
    `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,http://${slot.serverIp}:8080/boot`,
  ]);

/** dnsmasq's defaults except the lease cap (default 1,000: a 5,000-client avalanche needs more). */
const dnsmasqFull = (noPing: boolean) =>
  native(noPing ? 'dnsmasq --no-ping' : 'dnsmasq (defaults)', 'dnsmasq', (slot, d) => [
    ...dnsmasqCommon(d),
    `--dhcp-range=${slot.first},${slot.last},255.255.0.0,1h`,
    '--dhcp-lease-max=70000',
    ...(noPing ? ['--no-ping'] : []),
  ]);

/** Kea as Debian packages it (2.2: single-threaded unless configured), memfile CSV appended per change, no LFC during the run. */
const kea = native(
  'Kea (memfile)',
  'kea-dhcp4',
  (slot, d) => {
    const config = {
      Dhcp4: {
        // perfdhcp's traffic is relayed (unicast to our address): Kea's UDP sockets serve it (raw is for direct clients).
        'interfaces-config': { interfaces: [IF], 'dhcp-socket-type': 'udp' },
        'lease-database': { type: 'memfile', persist: true, name: join(d, 'leases4.csv'), 'lfc-interval': 0 },
        'valid-lifetime': 3600,
        subnet4: [{ id: 1, subnet: `${slot.net}.0.0/16`, pools: [{ pool: `${slot.first} - ${slot.last}` }] }],
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' }],
      },
    };
    writeFileSync(join(d, 'kea.json'), JSON.stringify(config, null, 2));
    return ['-c', join(d, 'kea.json')];
  },
  (d) => ({ KEA_PIDFILE_DIR: d, KEA_LOCKFILE_DIR: d }),
);

// ── ladders ────────────────────────────────────────────────────────────────────────────────────────
interface Step {
  rate: number;
  seconds: number;
  perf: PerfdhcpResult;
  /** Completed exchanges: OFFERs received (proxy) or ACKs received (full). */
  done: number;
  /** Share of the exchanges started that did not complete within the drop time. */
  loss: number;
  /** Why the server leaves the ladder here, if it does. */
  limit: 'server' | 'perfdhcp' | null;
  /** Server user+system CPU seconds over the step (its sending period plus the replies after it). */
  cpuSeconds: number;
  /** UDP receive-queue overflows: the server's socket, perfdhcp's socket. */
  kernelDrops: number;
  clientKernelDrops: number;
}

interface LadderResult {
  server: string;
  steps: Step[];
  best: Step | null;
  /** The server left the ladder on perfdhcp's limit or at its top: `best` is a lower bound. */
  atLeast: boolean;
  counters: string;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (v: number | null | undefined) => (v == null ? 'n/a' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;

async function step(running: Running, slot: Slot, name: string, kind: 'proxy' | 'full', rate: number, seconds: number, retry = false): Promise<Step> {
  const cpu0 = cpuSeconds(running.pid);
  const wait0 = runQueueWait(running.pid);
  const [k0, c0] = [rcvbufErrors(slot.ns), rcvbufErrors(CLIENT_NS)];
  const perf = await runPerfdhcp(slot, [...(kind === 'proxy' ? ['-i', ...PXE_OPTIONS] : []), '-R', String(LADDER_CLIENTS), '-r', String(rate), '-p', String(seconds), '-W', String(EXIT_WAIT_US)], (seconds + 20) * 1000);
  const cpu = cpuSeconds(running.pid) - cpu0;
  const waitedMs = (runQueueWait(running.pid) - wait0) / 1e6;
  const [kernelDrops, clientKernelDrops] = [rcvbufErrors(slot.ns) - k0, rcvbufErrors(CLIENT_NS) - c0];
  const first = perf.exchanges['DISCOVER-OFFER'];
  const last = kind === 'proxy' ? first : perf.exchanges['REQUEST-ACK'];
  const started = first?.sent ?? 0;
  const done = last?.received ?? 0;
  const loss = started ? (started - done) / started : 1;
  // perfdhcp's limit: it could not send at the rate (its "Rate:" line counts the -W wait: use its DISCOVER
  // count), or it ran out of CPU and most of what was lost overflowed its own receive queue while the server
  // had CPU to spare and lost little itself. (With CPU to spare on perfdhcp's side, an overflow there means
  // the server's replies came in bursts: the server's failure.)
  const lost = started - done;
  const perfdhcpSaturated = perf.cpuSeconds === null || perf.cpuSeconds / seconds >= 0.9;
  const serverSaturated = cpu / seconds >= 0.8 || kernelDrops >= 0.1 * lost;
  const perfdhcpBound = started / seconds < 0.95 * rate || (loss >= PASS_LOSS && perfdhcpSaturated && !serverSaturated && clientKernelDrops >= 0.5 * lost);
  const limit = perfdhcpBound ? 'perfdhcp' : loss >= PASS_LOSS ? 'server' : null;
  const delay = kind === 'proxy' ? `delay avg ${ms(first?.avgMs)} max ${ms(first?.maxMs)} ms` : `DO avg ${ms(first?.avgMs)} max ${ms(first?.maxMs)}, RA avg ${ms(last?.avgMs)} max ${ms(last?.maxMs)} ms`;
  // Shares of one core over the sending period (the replies after it are counted in too).
  const cpuNote = `CPU server ${((cpu / seconds) * 100).toFixed(0)}% (waited ${fmt(waitedMs)} ms for it)${perf.cpuSeconds === null ? '' : ` perfdhcp ${((perf.cpuSeconds / seconds) * 100).toFixed(0)}%`}`;
  console.log(
    `  ${`${fmt(rate)}/s`.padStart(8)} ${name.padEnd(19)} ${loss < PASS_LOSS ? 'ok  ' : 'FAIL'}${retry ? ' (retry)' : ''} ${started / seconds < 0.95 * rate ? `sent only ${fmt(started / seconds)}/s, ` : ''}answered ${fmt(done / seconds)}/s, lost ${pct(loss)}; ${delay}; kernel drops server ${fmt(kernelDrops)} perfdhcp ${fmt(clientKernelDrops)}; ${cpuNote}${limit === 'perfdhcp' ? ' ← perfdhcp\'s limit' : limit === 'server' && clientKernelDrops >= 0.5 * lost ? ' ← lost in perfdhcp\'s socket: the server\'s replies came late, in bursts' : ''}`,
  );
  return { rate, seconds, perf, done, loss, limit, cpuSeconds: cpu, kernelDrops, clientKernelDrops };
}

/** All servers up at once, one slot each; every rate is tried on each server still in the ladder, in turn. */
async function ladders(servers: Server[], kind: 'proxy' | 'full', rates: number[], seconds: number): Promise<LadderResult[]> {
  const running: Running[] = [];
  for (const [i, s] of servers.entries()) running.push(await s.start(slots[i]!));
  const steps: Step[][] = servers.map(() => []);
  let active = servers.map((_, i) => i);
  let counters: string[] = [];
  try {
    for (const rate of rates) {
      for (const i of active) {
        let st = await step(running[i]!, slots[i]!, servers[i]!.name, kind, rate, seconds);
        // One hiccup (a GC, the machine's other load) must not end a ladder: a step that failed by a little
        // gets one retry (one that lost a tenth or more failed for good).
        if (st.limit === 'server' && st.loss < 0.1) {
          await sleep(1000);
          const again = await step(running[i]!, slots[i]!, servers[i]!.name, kind, rate, seconds, true);
          if (again.loss < st.loss) st = again;
        }
        steps[i]!.push(st);
      }
      active = active.filter((i) => steps[i]!.at(-1)!.limit === null);
      if (!active.length) break;
      await sleep(500); // stragglers of the last step drain
    }
  } finally {
    counters = await Promise.all(running.map((r) => r.stop()));
  }
  return servers.map((s, i) => {
    const passed = steps[i]!.filter((st) => st.loss < PASS_LOSS);
    const end = steps[i]!.at(-1)?.limit;
    return { server: s.name, steps: steps[i]!, best: passed.at(-1) ?? null, atLeast: end === 'perfdhcp' || end === null, counters: counters[i]! };
  });
}

// ── avalanches ─────────────────────────────────────────────────────────────────────────────────────
interface Storm {
  /** null: not every client was served before the time limit. */
  seconds: number | null;
  /** Clients served by the end: OFFERs (proxy) or ACKs (full). */
  served: number;
  sentAndResent: number | null;
  /** UDP receive-queue overflows on the server's side and on perfdhcp's (a lost reply costs a retry timeout). */
  kernelDrops: number;
  clientKernelDrops: number;
}

interface AvalancheResult {
  clients: number;
  limitSeconds: number;
  /** A freshly started server (empty leases; for the relay, code not yet optimised by V8's JIT). */
  cold: Storm;
  /** The same process again with as many other new clients (null when the cold one took over 30 s or did not finish). */
  warm: Storm | null;
  counters: string;
}

/**
 * N new clients at once (perfdhcp --scenario avalanche): time until each has its answer, on a fresh
 * server, then again with other MACs on the same process. A relay restarted by the power cut that also
 * reboots the machines meets its storm cold; one that has been running meets it warm.
 *
 * Coarse below ~2 s: every reply lost anywhere — in the server's socket or in perfdhcp's own, which a fast
 * server can overflow while perfdhcp is still sending — costs that client perfdhcp's retry timeout.
 */
async function avalanche(server: Server, slot: Slot, kind: 'proxy' | 'full', clients: number, limitSeconds: number): Promise<AvalancheResult> {
  const running = await server.start(slot);
  const once = async (macBase: string): Promise<Storm> => {
    const [k0, c0] = [rcvbufErrors(slot.ns), rcvbufErrors(CLIENT_NS)];
    const perf = await runPerfdhcp(slot, [...(kind === 'proxy' ? ['-i', ...PXE_OPTIONS] : []), '--scenario', 'avalanche', '-R', String(clients), '-b', `mac=${macBase}`], limitSeconds * 1000);
    const served = perf.exchanges[kind === 'proxy' ? 'DISCOVER-OFFER' : 'REQUEST-ACK']?.received ?? 0;
    return { seconds: perf.timedOut ? null : perf.tookSeconds, served, sentAndResent: perf.sentAndResent, kernelDrops: rcvbufErrors(slot.ns) - k0, clientKernelDrops: rcvbufErrors(CLIENT_NS) - c0 };
  };
  let cold: Storm;
  let warm: Storm | null = null;
  let counters: string;
  try {
    cold = await once('00:0c:01:00:00:00');
    // A server that needed more than 30 s cold is not going to tell us more warm: spare the time.
    if (cold.seconds !== null && cold.seconds < 30) warm = await once('00:0d:01:00:00:00');
  } finally {
    counters = await running.stop();
  }
  const line = (label: string, st: Storm) =>
    `${label} ${st.seconds === null ? `${fmt(st.served)} of ${fmt(clients)} served when stopped at ${limitSeconds} s` : `${st.seconds.toFixed(2)} s`} (${fmt(st.sentAndResent ?? 0)} sent incl. retries; kernel drops server ${fmt(st.kernelDrops)} perfdhcp ${fmt(st.clientKernelDrops)})`;
  console.log(`  ${`${fmt(clients)} ×`.padStart(8)} ${server.name.padEnd(19)} ${line('cold', cold)}${warm ? `; ${line('warm', warm)}` : ''}`);
  return { clients, limitSeconds, cold, warm, counters };
}

const stormCell = (r: AvalancheResult | null | undefined) => {
  if (r == null) return 'skipped';
  if (r.cold.seconds === null) return `${fmt(r.cold.served)} in ${r.limitSeconds} s`;
  return `${r.cold.seconds.toFixed(2)} / ${r.warm?.seconds == null ? '—' : r.warm.seconds.toFixed(2)} s`;
};

// ── the tables ─────────────────────────────────────────────────────────────────────────────────────
/** Server CPU per completed exchange (an OFFER in proxy mode, a whole DORA in full mode), in µs. */
const cpuPerExchange = (st: Step | null) => (st ? (st.cpuSeconds * 1e6) / Math.max(1, st.done) : null);

/** Width of bestCells' columns: 9 + 7 + 26 + 6 + 4 + 8 + 9 and six 2-space gaps. */
const CELLS_WIDTH = 81;

function bestCells(r: LadderResult, kind: 'proxy' | 'full'): string {
  const b = r.best;
  if (!b) {
    const s = r.steps[0]!;
    return `${`< ${fmt(s.rate)}`.padStart(9)}  ${pct(s.loss).padStart(7)} lost at ${fmt(s.rate)}/s, ${ms(s.perf.exchanges['DISCOVER-OFFER']?.avgMs)} ms avg to OFFER`.padEnd(CELLS_WIDTH);
  }
  const first = b.perf.exchanges['DISCOVER-OFFER']!;
  const ack = b.perf.exchanges['REQUEST-ACK'];
  const delays = kind === 'proxy' ? `${ms(first.avgMs)} / ${ms(first.minMs)} / ${ms(first.maxMs)}` : `DO ${ms(first.avgMs)}/${ms(first.maxMs)}  RA ${ms(ack?.avgMs)}/${ms(ack?.maxMs)}`;
  const per = cpuPerExchange(b)!;
  return [
    `${fmt(b.done / b.seconds)}${r.atLeast ? '+' : ' '}`.padStart(9),
    pct(b.loss).padStart(7),
    delays.padStart(26),
    fmt(b.kernelDrops).padStart(6),
    `${((b.cpuSeconds / b.seconds) * 100).toFixed(0)}%`.padStart(4),
    `${per.toFixed(0)} µs`.padStart(8),
    `${fmt(1e6 / per)}/s`.padStart(9),
  ].join('  ');
}

const header = (first: string, rate: string, delays: string, cpu: string, tail: string) =>
  `${first.padEnd(20)} ${rate.padStart(9)}  ${'lost'.padStart(7)}  ${delays.padStart(26)}  ${'kernel'.padStart(6)}  ${'CPU'.padStart(4)}  ${cpu.padStart(8)}  ${'1 core ≈'.padStart(9)}  ${tail}`;
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');
const rateOf = (r: LadderResult) => (r.best ? r.best.done / r.best.seconds : null);
const LEGEND = [
  '  rate and delays: at the highest passing rate (+: left the ladder on perfdhcp\'s limit or at its top — a lower bound); kernel: the server',
  '  socket\'s overflows at that rate; CPU: the server\'s share of one core; CPU/offer, CPU/DORA: server CPU per completed exchange;',
  '  1 core ≈: the rate that CPU cost allows on one core (when perfdhcp is the limit, the better comparison)',
].join('\n');

// ── run ────────────────────────────────────────────────────────────────────────────────────────────
let cleaned: Promise<void> | undefined;
const cleanup = () =>
  (cleaned ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c)));
    deleteBed();
    rmSync(dir, { recursive: true, force: true });
  })());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping the servers and deleting the namespaces`);
    void cleanup().then(() => process.exit(130));
  });
}

const t0 = performance.now();
createBed();
try {
  console.log(`DHCP over veth pairs, one namespace and /16 per server, perfdhcp ${spawnSync('perfdhcp', ['-v'], { encoding: 'utf8' }).stdout.trim()} in its own namespace; ${CORES} cores, ${PIN ? 'servers pinned to CPU 1, perfdhcp to CPU 0' : 'shared by server and perfdhcp (--no-pin)'}`);
  console.log('relay = dhcpService() as the relay builds it, a local snapshot (unknown machines netboot), events to a no-op sink { emit() {} }:');
  console.log("  the real EventQueue's per-event work (zod check, id, JSON, a write per loop turn) is left out of the relay's figures");
  console.log(`load average before: ${loadavg()} (other work on the machine scatters these figures: compare within one run)\n`);

  if (values.only !== 'full') {
    console.log(`proxyDHCP: PXE DISCOVER (60 PXEClient:Arch:00007…, 93 = 7, 97 GUID) → OFFER (perfdhcp -i), ${PROXY_SECONDS} s per rate, pass = < 1% lost`);
    const servers = [dnsmasqProxy(false), dnsmasqProxy(true), relay('proxy')];
    const results = await ladders(servers, 'proxy', PROXY_LADDER, PROXY_SECONDS);
    const ours = results.at(-1)!;
    console.log(`  relay counters (ladder): ${ours.counters}`);
    console.log('storm: 5,000 PXE clients at once (perfdhcp --scenario avalanche -i): on a fresh server (cold), then 5,000 others on the same process (warm)');
    const storms: AvalancheResult[] = [];
    for (const [i, s] of servers.entries()) storms.push(await avalanche(s, slots[i]!, 'proxy', 5000, 60));
    console.log(`  relay counters (storms): ${storms.at(-1)!.counters}`);

    console.log(`\n${header('proxyDHCP', 'offers/s', 'delay avg/min/max ms', 'CPU/offer', '5,000 at once cold / warm')}`);
    for (const [i, r] of results.entries()) console.log(`${r.server.padEnd(20)} ${bestCells(r, 'proxy')}  ${stormCell(storms[i])}`);
    for (const [i, ref] of results.slice(0, -1).entries()) {
      console.log(
        `ratio relay/${ref.server}: offers/s ${ratio(rateOf(ours), rateOf(ref))}; CPU per offer ${ratio(cpuPerExchange(ours.best), cpuPerExchange(ref.best))}; 5,000 at once cold ${ratio(storms.at(-1)!.cold.seconds, storms[i]!.cold.seconds)}, warm ${ratio(storms.at(-1)!.warm?.seconds, storms[i]!.warm?.seconds)}`,
      );
    }
    console.log('  (relay ahead: offers/s ratio > 1, CPU and time ratios < 1)');
    console.log(`${LEGEND}\n`);
  }

  if (values.only !== 'proxy') {
    console.log(`Full DHCP: DISCOVER-OFFER-REQUEST-ACK, ${SECONDS} s per rate, ${fmt(LADDER_CLIENTS)} simulated clients, pools x.x.1.1–x.x.255.254, pass = < 1% lost`);
    const servers = [kea, dnsmasqFull(false), dnsmasqFull(true), relay('dhcp')];
    const results = await ladders(servers, 'full', FULL_LADDER, SECONDS);
    const ours = results.at(-1)!;
    console.log(`  relay counters (ladder): ${ours.counters}`);
    console.log('avalanches: N new clients at once, time until every one holds a lease (perfdhcp --scenario avalanche): on a fresh server (cold), then with other new clients on the same process (warm)');
    const storms = new Map<string, Record<number, AvalancheResult | null>>(servers.map((s) => [s.name, {}]));
    for (const clients of [1000, 5000]) {
      for (const [i, s] of servers.entries()) {
        const dnsmasq = s.name.startsWith('dnsmasq');
        if (clients === 5000 && dnsmasq && !SLOW) {
          storms.get(s.name)![clients] = null;
          continue;
        }
        // dnsmasq with its defaults spends ~100 s on 1,000 new clients (its pings): cut short unless --slow.
        const limit = s.name === 'dnsmasq (defaults)' && !SLOW ? 30 : clients === 5000 ? 400 : 240;
        const r = await avalanche(s, slots[i]!, 'full', clients, limit);
        storms.get(s.name)![clients] = r;
        if (s === servers.at(-1)) console.log(`  relay counters (${fmt(clients)} at once): ${r.counters}`);
      }
    }
    if (!SLOW) console.log('  dnsmasq: 5,000 at once skipped, and dnsmasq (defaults) stopped after 30 s (--slow runs them to the end)');

    console.log(`\n${header('full DHCP', 'DORA/s', 'delay avg/max ms', 'CPU/DORA', '1,000 at once, cold / warm   5,000 at once, cold / warm')}`);
    for (const r of results) console.log(`${r.server.padEnd(20)} ${bestCells(r, 'full')}  ${stormCell(storms.get(r.server)![1000]).padStart(26)}   ${stormCell(storms.get(r.server)![5000]).padStart(26)}`);
    const secs = (name: string, n: number, w: 'cold' | 'warm') => storms.get(name)![n]?.[w]?.seconds ?? null;
    const times = (ref: string, n: number) => `${fmt(n)} at once cold ${ratio(secs(ours.server, n, 'cold'), secs(ref, n, 'cold'))}, warm ${ratio(secs(ours.server, n, 'warm'), secs(ref, n, 'warm'))}`;
    for (const ref of results.slice(0, -1)) {
      console.log(
        `ratio relay/${ref.server}: DORA/s ${ratio(rateOf(ours), rateOf(ref))}; CPU per DORA ${ratio(cpuPerExchange(ours.best), cpuPerExchange(ref.best))}; ${times(ref.server, 1000)}; ${times(ref.server, 5000)}`,
      );
    }
    console.log('  (relay ahead: DORA/s ratio > 1, CPU and time ratios < 1; "< N": not even the lowest rate passed)');
    console.log(LEGEND);
  }
} finally {
  await cleanup();
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s; load average after: ${loadavg()})`);
}
