/**
 * Benchmark (not a test): the relay's DHCP hot path as a site runs it, against dnsmasq's proxy mode and
 * ISC Kea, same address, same client, one run (issue 18). The relay is the real `edgeboot-relay run`
 * process — the bundle scripts/build-relay.ts makes, enrolled against a real cloud (the app over SQLite
 * in this process, test/relay/support/test-cloud.ts, bridged into the namespace as the LAN tests do),
 * synced, its event queue shipping every boot event to that cloud, /metrics and its JSON log on.
 * It runs with the packaged executable's V8 flags (--max-semi-space-size=1 --liftoff-only) and the unit's
 * MALLOC_ARENA_MAX=1, as a site runs it; --relay-node-flags adds to them.
 *
 * Bed (support/dhcp-bed.ts): every server in its own namespace at 10.91.0.1/16, perfdhcp at 10.91.0.2 as
 * a relay agent; only the server under test has its bridge port up. Servers keep running across the
 * sweep, so the relay's memory and queue carry from step to step as on a site.
 *
 * 1. proxy: PXE DISCOVERs (60 `PXEClient:Arch:00007:UNDI:003016`, 93 = 7, 97) → OFFER (`perfdhcp -i`),
 *    every exchange a new MAC; relay (proxy) vs dnsmasq `--dhcp-range=…,proxy` --quiet-dhcp; per rate,
 *    relay / dnsmasq alternated `--reps` times. Then the relay idles and its RSS is read after 60 s.
 * 2. full: DORA with the same PXE options; relay (dhcp mode) vs Kea (memfile), alternated. Clients
 *    come back (-R 30,000 with one base): a pool of a /16 holds every one of them.
 * 3. malformed: valid PXE DISCOVERs at --valid-rate from perfdhcp while a second sender in the client
 *    namespace sends test/bench/dhcp-malformed.ts's seeded malformed classes at --malformed-rate; relay
 *    and dnsmasq alternated. The valid clients' p99, what crashed (nothing may), and RSS.
 *
 * Per step: offers (or ACKs)/s, the ratio to the reference's median, DISCOVER→OFFER (REQUEST→ACK) p50/p99
 * from perfdhcp's per-exchange timestamps (-x t), lost, UDP RcvbufErrors in the server's namespace,
 * the server's CPU, perfdhcp's own CPU (≥ 90 % of a core: the generator is the limit), and for the
 * relay the cloud's CPU (this process: the app, SQLite, the bridge) and events the cloud stored.
 * CPUs: with --pin (default) servers on CPU 1, perfdhcp on CPU 0. Other people's work on the machine
 * shows in the load average printed before and after: compare within one run.
 *
 *   npm run bench:dhcp [-- --only proxy|full|malformed --rates 1000,5000,7500,10000 --reps 3 --seconds 10
 *                        --bundle relay.mjs --baseline-bundle old.mjs --relay-node-flags="--cpu-prof --cpu-prof-dir=DIR" --idle 60 --echo --no-pin --gc --wire --slow-ms 5 --cloud-cpu 0 --threads --client-rcvbuf 8388608]
 *
 * `--bundle`: a prebuilt relay bundle; default: bundled now from this tree into a temp dir.
 * `--slow-ms MS`: per step, the exchanges slower than MS grouped into bursts (slow ones sent within 50 ms
 * of each other: one stall), with when each began and the median gap between bursts — bursts 1 s apart
 * point at a timer, scattered ones at GC or the machine.
 * `--wire`: also times each exchange on the server's own interface (tcpdump in its namespace, on perfdhcp's
 * CPU): the server's time alone, without perfdhcp's (support/wire-latency.ts).
 * `--cloud-cpu N`: pins this process (the cloud the relay ships its events to, every thread) to CPU N, e.g.
 * 0, perfdhcp's: the relay's core is then its own, as on a site box whose control plane is elsewhere.
 * Without it the cloud shares both cores, as when one small box runs both (the relay then waits behind
 * each batch the cloud ingests).
 * `--gc`: per relay step, its garbage collections (young, old, incremental marking: count and time) and
 * its pauses of 2 ms or more, counted inside the relay by a preload (support/gc-counters.ts).
 * `--threads`: per server step, CPU used and time spent waiting for a CPU by each of its threads (by name):
 * who shares the server's core with its event loop.
 * `--client-rcvbuf BYTES`: perfdhcp's UDP sockets get this receive buffer (support/rcvbuf-shim.ts, a
 * preload): with the default (~200 KiB) a server's burst of replies overflows the generator's socket
 * ("perfdhcp's N" after rcvbuf) and counts as lost though the server sent it. Same for every server.
 * `--echo`: adds a minimal Node UDP responder on the relay's socket options (the ceiling of Node's UDP
 * path: receive, copy xid/chaddr into a fixed OFFER, send) to the proxy rounds.
 * `--baseline-bundle old.mjs[,label=other.mjs…]`: more relays from other bundles ("relay before", e.g. an
 * older checkout's), run beside the first and alternated with it and the reference in every round:
 * before/after in one run. The earlier benchmark (dhcpService() alone with a
 * no-op event sink, rate ladders, avalanches) is test/bench/support/dhcp-ladders.ts.
 * Needs root, iproute2, util-linux (taskset), perfdhcp (kea-admin), kea-dhcp4 (kea-dhcp4-server), dnsmasq,
 * GNU time (`time`), perl-base, /usr/lib/ipxe (ipxe).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireTools, type Spawned } from '../support/netns.ts';
import { perfdhcp } from './lib/perfdhcp.ts';
import { rcvbufShim } from './support/rcvbuf-shim.ts';
import { startWireCapture } from './support/wire-latency.ts';
import * as gcCounters from './support/gc-counters.ts';
// The cloud app imports the console's .tsx: its loader hook first, then whatever imports the app.
import '../../cloud/src/adapters/node/register-tsx.ts';
import type { BenchCloud, DhcpBed } from './support/dhcp-bed.ts';
const { bundleRelay, CLIENT_IP, cpuSeconds, waitedSeconds, createDhcpBed, median, perfdhcpLatencies, quantile, slowBursts, rcvbufErrors, threadTimes, rssMb, rssWatch, SERVER_IP, startBenchCloud, startRelay } = await import('./support/dhcp-bed.ts');

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rates: { type: 'string', default: '1000,5000,7500,10000' },
    'full-rates': { type: 'string', default: '1000,5000,10000' },
    reps: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'full-seconds': { type: 'string', default: '5' },
    'valid-rate': { type: 'string', default: '1000' },
    'malformed-rate': { type: 'string', default: '5000' },
    idle: { type: 'string', default: '60' },
    bundle: { type: 'string' },
    'baseline-bundle': { type: 'string' },
    threads: { type: 'boolean', default: false },
    'client-rcvbuf': { type: 'string' },
    'relay-node-flags': { type: 'string', default: '' },
    pin: { type: 'boolean', default: true },
    echo: { type: 'boolean', default: false },
    'slow-ms': { type: 'string' },
    wire: { type: 'boolean', default: false },
    gc: { type: 'boolean', default: false },
    'cloud-cpu': { type: 'string' },
  },
  allowNegative: true,
});
const RATES = values.rates!.split(',').map(Number);
const FULL_RATES = values['full-rates']!.split(',').map(Number);
const REPS = Number(values.reps);
const SECONDS = Number(values.seconds);
const FULL_SECONDS = Number(values['full-seconds']);
const IDLE = Number(values.idle);
const PIN = values.pin!;
const NODE_FLAGS = values['relay-node-flags']!.split(' ').filter(Boolean);
/** Not `work` (made below): the relays' counts land beside the preload. */
const GC_DIR = values.gc ? mkdtempSync(join(tmpdir(), 'eb-bench-dhcp-gc-')) : null;
if (GC_DIR) NODE_FLAGS.push(`--import=${gcCounters.preload(GC_DIR)}`);
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const PXE_OPTIONS = ['-o', `60,${hex('PXEClient:Arch:00007:UNDI:003016')}`, '-o', '93,0007', '-o', '97,000f8d2c4e5a6b4d7c8e9fa1b2c3d4e5f6'];
const IPXE = '/usr/lib/ipxe';

if (process.getuid?.() !== 0) {
  console.error('this benchmark creates network namespaces: run it as root');
  process.exit(2);
}
requireTools(['ip', 'taskset', 'perfdhcp', 'kea-dhcp4', 'dnsmasq', 'perl']);
// The cloud runs in this process: --cloud-cpu keeps it (all its threads) off the servers' CPU, as on a
// site where the control plane is elsewhere. By default it shares both, as on a box that runs both.
if (values['cloud-cpu'] !== undefined) spawnSync('taskset', ['-a', '-p', '-c', values['cloud-cpu'], String(process.pid)], { stdio: 'ignore' });

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── servers ────────────────────────────────────────────────────────────────────────────────────────
interface Running {
  name: string;
  slot: string;
  pid: number;
  /** For the relay: its forwarder (the WAN side), whose CPU counts with the cloud's. */
  extraPids: number[];
  alive(): boolean;
  stop(): Promise<void>;
  /** For the relay: its "gave memory back" log lines (relay/src/memory-release.ts), as objects. */
  releases?(): Record<string, unknown>[];
}

const work = mkdtempSync(join(tmpdir(), 'eb-bench-dhcp-'));
const CLIENT_ENV = values['client-rcvbuf'] ? rcvbufShim(work, Number(values['client-rcvbuf'])) : null;
let macSerial = 0;
/** A MAC base no earlier step used: -R then draws new clients below it. */
const freshMacBase = () => {
  macSerial++;
  return `0c:${((macSerial >> 8) & 0xff).toString(16).padStart(2, '0')}:${(macSerial & 0xff).toString(16).padStart(2, '0')}:00:00:00`;
};

async function relayServer(b: DhcpBed, cloud: BenchCloud, bundle: string, slot: string, mode: 'proxy' | 'dhcp', label = ''): Promise<Running> {
  const stateDir = join(work, slot);
  mkdirSync(stateDir, { recursive: true });
  const dhcp = mode === 'dhcp' ? '[dhcp]\nrange = ["10.91.1.1", "10.91.255.254"]\nrouters = ["10.91.0.1"]\nlease_seconds = 3600\n' : '';
  const r = await startRelay(b, slot, {
    bundle,
    cloud,
    stateDir,
    toml: `interface = "eth0"\nmode = "${mode}"\nboot_files = "${IPXE}"\n[http]\nport = 8080\npublic_url = "http://${SERVER_IP}:8080"\n[sync]\nwait_seconds = 5\n${dhcp}`,
    ...(PIN ? { cpu: 1 } : {}),
    nodeFlags: NODE_FLAGS,
  });
  return { name: `relay${label} (${mode})`, slot, pid: r.pid, extraPids: [r.forwarder.pid], alive: () => r.process.child.exitCode === null && r.process.child.signalCode === null, stop: () => r.stop(), releases: () => r.process.stdout.filter((l) => l.includes('"msg":"gave memory back after a busy spell"')).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function nativeServer(b: DhcpBed, name: string, slot: string, cmd: string, args: string[], ready: RegExp | null, env?: NodeJS.ProcessEnv): Promise<Running> {
  b.use(slot); // Kea, like the relay, opens only interfaces that have a carrier
  const opts = env ? { env: { ...process.env, ...env } } : {};
  const p: Spawned = PIN ? b.bed.spawn(slot, 'taskset', ['-c', '1', cmd, ...args], opts) : b.bed.spawn(slot, cmd, args, opts);
  if (ready) await p.waitForLine(ready, 15_000);
  else {
    // Nothing printed when healthy: wait for its socket on :67 (0043) in its namespace.
    for (let i = 0; ; i++) {
      if (p.child.exitCode !== null || i > 150) throw new Error(`${name} did not start:\n${[...p.stdout, ...p.stderr].join('\n').slice(-3000)}`);
      if (readFileSync(`/proc/${p.pid}/net/udp`, 'utf8').includes(':0043 ')) break;
      await sleep(100);
    }
  }
  await sleep(200);
  return { name, slot, pid: p.pid, extraPids: [], alive: () => p.child.exitCode === null && p.child.signalCode === null, stop: () => p.kill() };
}

/**
 * The ceiling of Node's UDP path (--echo): a node process with the relay's socket options (0.0.0.0:67,
 * SO_REUSEADDR, a 4 MiB receive buffer) that answers each request with a fixed proxy OFFER carrying the
 * request's xid, flags, giaddr and chaddr — no decode, no decision, no events — to where it came from.
 */
const NODE_ECHO = `
const dgram = require('node:dgram');
const tpl = Buffer.alloc(300);
tpl[0] = 2; tpl[1] = 1; tpl[2] = 6;
tpl.writeUInt32BE(0x63825363, 236);
Buffer.from([53, 1, 2, 54, 4, ...process.argv[1].split('.').map(Number), 60, 9, ...Buffer.from('PXEClient'), 255]).copy(tpl, 240);
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 << 20 });
s.on('message', (m, r) => {
  if (m.length < 240) return;
  const out = Buffer.allocUnsafe(300);
  tpl.copy(out);
  m.copy(out, 4, 4, 12);
  m.copy(out, 24, 24, 44);
  s.send(out, r.port, r.address);
});
s.bind(67, '0.0.0.0', () => console.log('listening'));
`;
const nodeEcho = (b: DhcpBed, slot: string) => nativeServer(b, 'node UDP echo', slot, process.execPath, ['-e', NODE_ECHO, SERVER_IP], /^listening/);

const dnsmasqProxy = (b: DhcpBed, slot: string) => {
  const d = join(work, slot);
  mkdirSync(d, { recursive: true });
  return nativeServer(b, 'dnsmasq proxy', slot, 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', `--pid-file=${d}/dnsmasq.pid`, `--dhcp-leasefile=${d}/dnsmasq.leases`, '--quiet-dhcp',
    '--dhcp-range=10.91.0.0,proxy,255.255.0.0', '--dhcp-userclass=set:ipxe,iPXE', '--pxe-prompt=edgeboot,0',
    '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly', '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
    `--pxe-service=tag:ipxe,x86PC,edgeboot,http://${SERVER_IP}:8080/boot`, `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,http://${SERVER_IP}:8080/boot`,
  ], /proxy on subnet/);
};

const keaServer = (b: DhcpBed, slot: string) => {
  const d = join(work, slot);
  mkdirSync(d, { recursive: true });
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: ['eth0'], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: join(d, 'leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': 3600,
      subnet4: [{ id: 1, subnet: '10.91.0.0/16', pools: [{ pool: '10.91.1.1 - 10.91.255.254' }], 'option-data': [{ name: 'routers', data: SERVER_IP }] }],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' }],
    },
  };
  writeFileSync(join(d, 'kea.json'), JSON.stringify(config));
  return nativeServer(b, 'Kea (memfile)', slot, 'kea-dhcp4', ['-c', join(d, 'kea.json')], null, { KEA_PIDFILE_DIR: d, KEA_LOCKFILE_DIR: d });
};

// ── a step ─────────────────────────────────────────────────────────────────────────────────────────
interface Step {
  server: string;
  rate: number;
  rep: number;
  sent: number;
  answered: number;
  perSecond: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
  /** UDP receive-buffer overflows in the server's namespace. */
  kernelDrops: number;
  /** UDP receive-buffer overflows in perfdhcp's namespace: replies the generator did not read in time. */
  clientDrops: number;
  serverCpu: number;
  /** Seconds the server was runnable but waited for a CPU (other load). */
  waited: number;
  perfdhcpCpu: number | null;
  cloudCpu: number;
  rss: number;
  alive: boolean;
  /** --wire: the server's own request → reply time on its interface (ms), and packets tcpdump missed. */
  wireP50: number;
  wireP99: number;
  wireDropped: number;
}

const cloudCpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One perfdhcp run at `rate` against the server whose port is up. */
async function step(b: DhcpBed, s: Running, kind: 'proxy' | 'full', rate: number, seconds: number, rep: number, clientsArgs: string[], extra?: () => Promise<unknown>): Promise<Step> {
  b.use(s.slot);
  await sleep(300);
  const k0 = rcvbufErrors(b.ns(s.slot));
  const c0 = rcvbufErrors(b.cli);
  const cpu0 = cpuSeconds(s.pid);
  const w0 = waitedSeconds(s.pid);
  const t0 = values.threads ? threadTimes(s.pid) : null;
  const cloud0 = cloudCpuNow() + s.extraPids.reduce((a, p) => a + cpuSeconds(p), 0);
  const gc0 = GC_DIR ? gcCounters.read(GC_DIR, s.pid) : null;
  const from = Date.now();
  const capture = values.wire ? await startWireCapture({ ns: b.ns(s.slot), iface: 'eth0', file: join(work, `wire-${s.slot}.pcap`), ...(PIN ? { cpu: 0 } : {}) }) : null;
  const side = extra?.();
  const perf = await perfdhcp({
    ns: b.cli,
    local: CLIENT_IP,
    server: SERVER_IP,
    args: [...(kind === 'proxy' ? ['-i'] : []), ...PXE_OPTIONS, ...clientsArgs, '-r', String(rate), '-p', String(seconds), '-W', '1000000', '-x', 't'],
    timeoutMs: (seconds + 20) * 1000,
    time: '/usr/bin/time',
    ...(PIN ? { cpu: 0 } : {}),
    ...(CLIENT_ENV ? { env: CLIENT_ENV } : {}),
  });
  await side;
  const to = Date.now();
  const wire = await capture?.stop();
  if (GC_DIR) await sleep(300); // the counts are rewritten every 250 ms
  const gc = GC_DIR ? gcCounters.delta(gc0, gcCounters.read(GC_DIR, s.pid), from, to) : null;
  const cloud1 = cloudCpuNow() + s.extraPids.reduce((a, p) => a + cpuSeconds(p), 0);
  const cpu1 = cpuSeconds(s.pid);
  const waited = waitedSeconds(s.pid) - w0;
  const t1 = t0 ? threadTimes(s.pid) : null;
  const kernelDrops = rcvbufErrors(b.ns(s.slot)) - k0;
  const clientDrops = rcvbufErrors(b.cli) - c0;
  const name = kind === 'proxy' ? 'DISCOVER-OFFER' : 'REQUEST-ACK';
  const ex = perf.exchanges[name] ?? { sent: 0, received: 0, drops: 0 };
  const lat = (perfdhcpLatencies(perf.text)[name] ?? []).sort((x, y) => x - y);
  const st: Step = {
    server: s.name,
    rate,
    rep,
    sent: ex.sent,
    answered: ex.received,
    perSecond: ex.received / seconds,
    lost: ex.sent ? (ex.sent - ex.received) / ex.sent : NaN,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat.at(-1) ?? NaN,
    kernelDrops,
    clientDrops,
    serverCpu: cpu1 - cpu0,
    waited,
    perfdhcpCpu: perf.cpuSeconds,
    cloudCpu: cloud1 - cloud0,
    rss: rssMb(s.pid),
    alive: s.alive(),
    wireP50: wire ? quantile(kind === 'proxy' ? wire.offer : wire.ack, 0.5) : NaN,
    wireP99: wire ? quantile(kind === 'proxy' ? wire.offer : wire.ack, 0.99) : NaN,
    wireDropped: wire?.dropped ?? 0,
  };
  const gen = st.perfdhcpCpu !== null && st.perfdhcpCpu / seconds >= 0.9 ? ' ← perfdhcp at ≥ 90% of a core: the generator is the limit' : '';
  console.log(
    `  ${`${fmt(rate)}/s`.padStart(9)} #${rep + 1} ${s.name.padEnd(15)} ${fmt(st.perSecond).padStart(7)}/s lost ${fmt(st.lost * 100, 2).padStart(6)}%  p50 ${fmt(st.p50, 3)} p99 ${fmt(st.p99, 3)} max ${fmt(st.max, 1)} ms  rcvbuf ${fmt(kernelDrops)}${clientDrops ? ` (perfdhcp's ${fmt(clientDrops)})` : ''}  CPU server ${fmt(st.serverCpu, 2)} s (${fmt((st.serverCpu * 1e6) / Math.max(1, st.answered))} µs/answer, waited ${fmt(waited, 2)} s) perfdhcp ${fmt(st.perfdhcpCpu ?? NaN, 2)} s${s.name.startsWith('relay') ? ` cloud ${fmt(st.cloudCpu, 2)} s  RSS ${fmt(st.rss)} MB` : ''}${st.alive ? '' : '  SERVER EXITED'}${gen}`,
  );
  if (wire) {
    const pairs = (kind === 'proxy' ? wire.offer : wire.ack).length;
    console.log(`      on the wire (server's own time, ${fmt(pairs)} pairs${wire.dropped ? `, ${fmt(wire.dropped)} packets tcpdump missed` : ''}): p50 ${fmt(st.wireP50, 3)} p99 ${fmt(st.wireP99, 3)} ms`);
  }
  if (t0 && t1) {
    // Threads by name (V8's workers share one): CPU used and time waited for a CPU during the step.
    const by = new Map<string, { cpu: number; waited: number; n: number }>();
    for (const [tid, t] of t1) {
      const before = t0.get(tid) ?? { cpu: 0, waited: 0 };
      const e = by.get(t.name) ?? { cpu: 0, waited: 0, n: 0 };
      by.set(t.name, { cpu: e.cpu + t.cpu - before.cpu, waited: e.waited + t.waited - before.waited, n: e.n + 1 });
    }
    const rows = [...by].filter(([, t]) => t.cpu + t.waited >= 0.005).sort((a, b) => b[1].cpu - a[1].cpu);
    console.log(`      threads (CPU / waited s): ${rows.map(([name, t]) => `${name}${t.n > 1 ? `×${t.n}` : ''} ${fmt(t.cpu, 2)} / ${fmt(t.waited, 2)}`).join(', ')}`);
  }
  if (gc) {
    const k = (x: gcCounters.GcKind) => `${fmt(x.count)} (${fmt(x.ms, 1)} ms)`;
    console.log(`      GC: young ${k(gc.young)}, old ${k(gc.old)}, incremental marking ${k(gc.incremental)}; pauses ≥ ${gcCounters.LONG_MS} ms: ${fmt(gc.longCount)}${gc.longCount ? `, longest ${fmt(gc.longestMs, 1)} ms` : ''}`);
  }
  if (values['slow-ms']) {
    const bursts = slowBursts(perf.text, name, Number(values['slow-ms']));
    const gaps = bursts.slice(1).map((b, i) => (b.at - bursts[i]!.at) * 1000);
    console.log(
      `      slow (> ${values['slow-ms']} ms): ${bursts.reduce((a, b) => a + b.count, 0)} exchanges in ${bursts.length} bursts, median gap ${fmt(median(gaps))} ms; longest: ${[...bursts]
        .sort((a, b) => b.maxMs - a.maxMs)
        .slice(0, 8)
        .map((b) => `${b.at.toFixed(3)} s ×${b.count} ≤${fmt(b.maxMs, 1)} ms`)
        .join(', ')}`,
    );
  }
  return st;
}

/** Median of a field over the reps of one server at one rate, with its range. */
const summary = (steps: Step[], f: (s: Step) => number) => {
  const xs = steps.map(f).filter((x) => Number.isFinite(x));
  return { med: median(xs), lo: Math.min(...xs), hi: Math.max(...xs) };
};
const cell = (steps: Step[], f: (s: Step) => number, d = 0) => {
  const s = summary(steps, f);
  return `${fmt(s.med, d)} (${fmt(s.lo, d)}–${fmt(s.hi, d)})`;
};

function table(title: string, rates: number[], steps: Step[], ours: string[], ref: string, unit: string): void {
  console.log(`\n${title}: medians of ${REPS} alternations (range)`);
  console.log(`${'offered'.padStart(9)}  ${'server'.padEnd(15)} ${`${unit}/s`.padStart(22)}  ${'ratio'.padStart(6)}  ${'p50 ms'.padStart(22)}  ${'p99 ms'.padStart(24)}  ${'rcvbuf err'.padStart(16)}  ${'CPU s'.padStart(8)}  ${'µs/answer'.padStart(10)}  ${'waited s'.padStart(8)}  ${'perfdhcp CPU s'.padStart(14)}  cloud CPU s${values.wire ? '   wire p50 / p99 ms (server alone)' : ''}`);
  for (const rate of rates) {
    const refSteps = steps.filter((s) => s.rate === rate && s.server === ref);
    for (const server of [...ours, ref]) {
      const ss = steps.filter((s) => s.rate === rate && s.server === server);
      if (!ss.length) continue;
      const ratio = summary(ss, (s) => s.perSecond).med / summary(refSteps, (s) => s.perSecond).med;
      console.log(
        `${`${fmt(rate)}/s`.padStart(9)}  ${server.padEnd(15)} ${cell(ss, (s) => s.perSecond).padStart(22)}  ${server !== ref ? `${fmt(ratio, 2)}×`.padStart(6) : ''.padStart(6)}  ${cell(ss, (s) => s.p50, 3).padStart(22)}  ${cell(ss, (s) => s.p99, 2).padStart(24)}  ${cell(ss, (s) => s.kernelDrops).padStart(16)}  ${fmt(summary(ss, (s) => s.serverCpu).med, 2).padStart(8)}  ${fmt(summary(ss, (s) => (s.serverCpu * 1e6) / Math.max(1, s.answered)).med).padStart(10)}  ${fmt(summary(ss, (s) => s.waited).med, 2).padStart(8)}  ${fmt(summary(ss, (s) => s.perfdhcpCpu ?? NaN).med, 2).padStart(14)}  ${(server !== ref ? fmt(summary(ss, (s) => s.cloudCpu).med, 2) : '').padEnd(11)}${values.wire ? `   ${cell(ss, (s) => s.wireP50, 3)} / ${cell(ss, (s) => s.wireP99, 3)}` : ''}`,
      );
    }
  }
}

// ── malformed traffic, from dhcp-malformed.ts's generator ──────────────────────────────────────────
/**
 * dhcp-malformed.ts keeps its generator private and runs itself on import; it is reused unchanged by
 * loading it with its last statement (the run) swapped for an export of `generate`, and with an argv
 * its own parseArgs accepts.
 */
async function malformedPackets(perClass: number, seed: number): Promise<Map<string, Array<{ bytes: Uint8Array; mustNot: boolean }>>> {
  const hooks = registerHooks({
    load(url, context, next) {
      const r = next(url, context);
      if (url.endsWith('/test/bench/dhcp-malformed.ts')) r.source = String(r.source).replace(/\nif \(values\.sender\)[^\n]*\nelse await main\(\);\s*$/, '\nexport { generate };\n');
      return r;
    },
  });
  const argv = process.argv;
  process.argv = [argv[0]!, argv[1]!];
  try {
    const m = (await import('./dhcp-malformed.ts')) as unknown as { generate(perClass: number, seed: number): Map<string, Array<{ bytes: Uint8Array; mustNot: boolean }>> };
    if (typeof m.generate !== 'function') throw new Error('dhcp-malformed.ts no longer ends with its run: its generator could not be reached');
    return m.generate(perClass, seed);
  } finally {
    process.argv = argv;
    hooks.deregister();
  }
}

/** Sends `file`'s packets (hex lines) round-robin at `rate`/s for `seconds` as a relay agent; runs in the client namespace. */
const MALFORMED_SENDER = `
const { createSocket } = require('node:dgram');
const fs = require('node:fs');
const [file, server, giaddr, rate, seconds] = process.argv.slice(1);
const pkts = fs.readFileSync(file, 'utf8').trim().split('\\n').map((h) => { const b = Buffer.from(h, 'hex'); if (b.length >= 28) b.set(giaddr.split('.').map(Number), 24); return b; });
const s = createSocket({ type: 'udp4', reuseAddr: true });
s.bind(0, giaddr, async () => {
  const perTick = Math.max(1, Math.round(Number(rate) / 200));
  const end = Date.now() + Number(seconds) * 1000;
  let i = 0, sent = 0;
  while (Date.now() < end) {
    for (let k = 0; k < perTick; k++) { s.send(pkts[i++ % pkts.length], 67, server); sent++; }
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log('sent ' + sent);
  s.close();
});
`;

// ── run ────────────────────────────────────────────────────────────────────────────────────────────
const servers: Running[] = [];
let b: DhcpBed | undefined;
let cloud: BenchCloud | undefined;
const cleanup = async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop().catch(() => undefined)));
  await cloud?.close();
  await b?.cleanup();
  rmSync(work, { recursive: true, force: true });
  if (GC_DIR) rmSync(GC_DIR, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));

const t0 = performance.now();
try {
  const bundle = values.bundle ?? (await bundleRelay(join(work, 'edgeboot-relay.mjs')));
  console.log(`DHCP, the relay as shipped (${values.bundle ? bundle : 'bundled from this tree'}${NODE_FLAGS.length ? `, node ${NODE_FLAGS.join(' ')}` : ''}): enrolled, synced, events shipped to a real cloud in this process; ${PIN ? 'servers on CPU 1, perfdhcp on CPU 0' : 'not pinned'}`);
  if (CLIENT_ENV) console.log(`perfdhcp's UDP sockets get ${values['client-rcvbuf']} bytes of receive buffer (support/rcvbuf-shim.ts), for every server alike`);
  console.log(`load average before: ${loadavg()} (2 cores shared with other work: compare within one run)\n`);
  const only = values.only;
  // `--baseline-bundle before.mjs[,label=other.mjs…]`: one more relay per bundle, named by its label (default "before").
  const BASES = (values['baseline-bundle'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((x, i) => (x.includes('=') ? { label: x.slice(0, x.indexOf('=')), path: x.slice(x.indexOf('=') + 1) } : { label: i ? `before${i + 1}` : 'before', path: x }));
  b = await createDhcpBed(['relay', 'dnsmasq', 'relaydhcp', 'kea', ...BASES.flatMap((_, i) => [`relaybase${i}`, `relaydhcpbase${i}`]), ...(values.echo ? ['echo'] : [])]);
  for (const x of BASES) console.log(`baseline: a relay from ${x.path} ("relay ${x.label}"), alternated with the others in every round`);
  cloud = await startBenchCloud(work);

  if (!only || only === 'proxy' || only === 'malformed') {
    const relay = await relayServer(b, cloud, bundle, 'relay', 'proxy');
    const relays = [relay];
    for (const [i, x] of BASES.entries()) relays.push(await relayServer(b, cloud, x.path, `relaybase${i}`, 'proxy', ` ${x.label}`));
    const dnsmasq = await dnsmasqProxy(b, 'dnsmasq');
    const echo = values.echo ? await nodeEcho(b, 'echo') : null;
    servers.push(...relays, dnsmasq, ...(echo ? [echo] : []));
    await sleep(2000);
    const rssBefore = relays.map((r) => rssMb(r.pid));
    const watches = relays.map((r) => rssWatch(r.pid));

    if (!only || only === 'proxy') {
      console.log(`proxyDHCP: PXE DISCOVER → OFFER (perfdhcp -i, every exchange a new MAC), ${SECONDS} s per step, relay / dnsmasq alternated ${REPS}×`);
      const ev0 = await cloud.events();
      const steps: Step[] = [];
      for (const rate of RATES) {
        for (let rep = 0; rep < REPS; rep++) {
          for (const s of [...relays, ...(echo ? [echo] : []), dnsmasq]) steps.push(await step(b, s, 'proxy', rate, SECONDS, rep, ['-R', '1000000', '-b', `mac=${freshMacBase()}`]));
        }
      }
      const peaks = watches.map((w) => w.peak());
      const evSweep = (await cloud.events()) - ev0;
      console.log(`  idle ${IDLE} s: RSS and events shipped after the sweep…`);
      await sleep(IDLE * 1000);
      const rssAfter = relays.map((r) => rssMb(r.pid));
      const evAfter = (await cloud.events()) - ev0;
      table('proxyDHCP, relay vs dnsmasq proxy', RATES, steps, [...relays.map((r) => r.name), ...(echo ? [echo.name] : [])], dnsmasq.name, 'offers');
      for (const [i, r] of relays.entries()) {
        console.log(`${r.name} RSS: before ${fmt(rssBefore[i]!)} MB, peak ${fmt(peaks[i]!)} MB, ${IDLE} s after the sweep ${fmt(rssAfter[i]!)} MB; alive after the sweep: ${r.alive()}`);
        const given = r.releases?.() ?? [];
        if (given.length) console.log(`  gave memory back ${given.length}× (each after a busy spell, in a quiet window); the last: ${JSON.stringify(given.at(-1))}`);
      }
      console.log(`dnsmasq RSS ${fmt(rssMb(dnsmasq.pid), 1)} MB; events in the cloud: ${fmt(evSweep)} by the end of the sweep, ${fmt(evAfter)} ${IDLE} s later`);
    }

    if (!only || only === 'malformed') {
      const perClass = 1000;
      const classes = await malformedPackets(perClass, 14);
      const file = join(work, 'malformed.hex');
      writeFileSync(file, `${[...classes.values()].flat().map((m) => Buffer.from(m.bytes).toString('hex')).join('\n')}\n`);
      const validRate = Number(values['valid-rate']);
      const badRate = Number(values['malformed-rate']);
      console.log(`\nmalformed: ${[...classes.keys()].join(', ')} (${fmt(perClass)} each, seed 14) at ${fmt(badRate)}/s mixed into ${fmt(validRate)}/s valid PXE DISCOVERs, ${SECONDS} s per step`);
      for (const w of watches) w.reset();
      const before = relays.map((r) => rssMb(r.pid));
      const steps: Step[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        for (const s of [...relays, dnsmasq]) {
          const flood = () => b!.bed.run('cli', process.execPath, ['-e', MALFORMED_SENDER, file, SERVER_IP, CLIENT_IP, String(badRate), String(SECONDS)], { timeoutMs: (SECONDS + 10) * 1000 });
          steps.push(await step(b, s, 'proxy', validRate, SECONDS, rep, ['-R', '1000000', '-b', `mac=${freshMacBase()}`], flood));
        }
      }
      table(`valid clients' offers amid ${fmt(badRate)}/s malformed`, [validRate], steps, relays.map((r) => r.name), dnsmasq.name, 'offers');
      for (const [i, r] of relays.entries()) console.log(`${r.name} RSS during the malformed steps: before ${fmt(before[i]!)} MB, peak ${fmt(watches[i]!.peak())} MB, after ${fmt(rssMb(r.pid))} MB; alive: ${r.alive()}`);
    }
    for (const w of watches) w.stop();
    for (const s of servers.splice(0)) await s.stop();
  }

  if (!only || only === 'full') {
    const relay = await relayServer(b, cloud, bundle, 'relaydhcp', 'dhcp');
    const relays = [relay];
    for (const [i, x] of BASES.entries()) relays.push(await relayServer(b, cloud, x.path, `relaydhcpbase${i}`, 'dhcp', ` ${x.label}`));
    const kea = await keaServer(b, 'kea');
    servers.push(...relays, kea);
    await sleep(1000);
    const rssBefore = relays.map((r) => rssMb(r.pid));
    const watches = relays.map((r) => rssWatch(r.pid));
    console.log(`\nfull DHCP: DORA with PXE options, ${FULL_SECONDS} s per step, 30,000 returning clients, relay (dhcp) / Kea alternated ${REPS}×`);
    const steps: Step[] = [];
    const macBase = freshMacBase();
    for (const rate of FULL_RATES) {
      for (let rep = 0; rep < REPS; rep++) {
        for (const s of [...relays, kea]) steps.push(await step(b, s, 'full', rate, FULL_SECONDS, rep, ['-R', '30000', '-b', `mac=${macBase}`]));
      }
    }
    table('full DHCP (REQUEST→ACK latency; ACKs/s), relay vs Kea', FULL_RATES, steps, relays.map((r) => r.name), kea.name, 'ACKs');
    for (const [i, r] of relays.entries()) console.log(`${r.name} RSS: before ${fmt(rssBefore[i]!)} MB, peak ${fmt(watches[i]!.peak())} MB; alive: ${r.alive()}`);
    for (const w of watches) w.stop();
  }
} finally {
  await cleanup();
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s; load average after: ${loadavg()})`);
}
