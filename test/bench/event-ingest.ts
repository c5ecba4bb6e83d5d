/**
 * Benchmark (not a test): what a storm of boot events costs the control plane and the relay (issue 18).
 * During a perfdhcp storm every DISCOVER is a new MAC and every new MAC a shipped `proxy-offer` event;
 * the cloud ingesting them shares the box's two cores with the relay.
 *
 * Each step: a relay-side child process runs the relay's real EventQueue with its real cloud client
 * (relay/src/sync/) and emits `rate` events/s, one new MAC each, for `seconds`, then lets the queue
 * drain. The cloud is the Node entry (cloud/src/entry/node.ts, embedded SQLite) started as a process,
 * with a relay enrolled through the API. Reference, same run, same relay child: a trivial handler on
 * the same HTTP stack (@hono/node-server) that reads the POST body and answers 200 without looking at it.
 *
 * Printed per rate (medians over --repeat rounds; app and trivial alternate within a round):
 * server CPU-seconds during the emission window and until drained, CPU ms per 1,000 events and its
 * ratio to the trivial handler, events/s accepted during the window, POSTs, the queue's peak depth
 * and lag (emit → acknowledged), the relay child's CPU-seconds and peak RSS.
 *
 *   npm run bench:events [-- --rates 1000,5000,10000 --seconds 10 --repeat 3 --profile /tmp/prof]
 *
 * --profile DIR runs the cloud with --cpu-prof and prints its top self-time frames. Loopback only;
 * every process is started and stopped here.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    rates: { type: 'string', default: '1000,5000,10000' },
    seconds: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '3' },
    profile: { type: 'string' },
    'drain-timeout': { type: 'string', default: '90' },
    only: { type: 'string', default: 'app,trivial' },
    // relay role
    url: { type: 'string' },
    token: { type: 'string' },
    rate: { type: 'string' },
    step: { type: 'string', default: '0' },
  },
});

/** The relay's per-DISCOVER event in proxy mode (relay/src/dhcp/responder.ts), for a MAC never seen before. */
const stormEvent = (mac: string) => ({ mac, stage: 'proxy-offer' as const, detail: { kind: 'pxe', arch: 'x64-uefi', boot: 'ipxe.efi' } });

interface RelaySample {
  t: number;
  depth: number;
  shipped: number;
  emitted: number;
  rssKb: number;
  lagMs: number | null;
}
type RelayMessage = { kind: 'sample'; sample: RelaySample } | { kind: 'window-start' } | { kind: 'window-end' } | { kind: 'done'; drained: boolean; drainMs: number; lags: number[]; posts: number };

/* ------------------------------------------------------------------ trivial handler (child) */
async function trivialRole(): Promise<void> {
  const { serve } = await import('@hono/node-server');
  serve(
    {
      fetch: async (req: Request) => {
        await req.text();
        return new Response('{"accepted":0,"duplicates":0}', { headers: { 'content-type': 'application/json' } });
      },
      hostname: '127.0.0.1',
      port: 0,
    },
    (info) => console.log(`trivial events handler listening on http://127.0.0.1:${info.port}`),
  );
}

/* ------------------------------------------------------------------ relay side (child) */
async function relayRole(): Promise<void> {
  const { createLogger } = await import('../../relay/src/log.ts');
  const { createCloudClient } = await import('../../relay/src/sync/cloud-client.ts');
  const { EventQueue } = await import('../../relay/src/sync/event-queue.ts');
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const step = Number(values.step) & 0xff;
  const drainTimeoutMs = Number(values['drain-timeout']) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'edgeboot-bench-events-'));
  const client = createCloudClient({ baseUrl: values.url!, token: values.token! });
  let posts = 0;
  const counting = { ...client, json: (req: Parameters<typeof client.json>[0]) => (req.path === '/v1/relay/events' && posts++, client.json(req)) };
  const queue = new EventQueue({ dir, client: counting as typeof client, log: createLogger({ write: (l) => void process.stderr.write(`${l}\n`) }) });
  queue.start();
  const total = rate * seconds;
  const emittedAt = new Float64Array(total);
  let emitted = 0;
  const mac = (n: number) => `02:${step.toString(16).padStart(2, '0')}:${[n >>> 16, (n >>> 8) & 0xff, n & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':')}:00`;
  const lags: number[] = [];
  let ackedSeen = 0;
  /** Lag of the newest acknowledged event: the queue ships in order, so the n-th shipped is the n-th emitted. */
  const lagNow = (now: number) => {
    const s = queue.shipped;
    if (s === 0 || s === ackedSeen) return null;
    ackedSeen = s;
    const lag = now - emittedAt[Math.min(s, total) - 1]!;
    lags.push(lag);
    return lag;
  };
  const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const send = (m: RelayMessage) => process.send!(m);
  const sampler = setInterval(() => {
    const now = performance.now();
    send({ kind: 'sample', sample: { t: now, depth: queue.depth, shipped: queue.shipped, emitted, rssKb: rssKb(), lagMs: lagNow(now) } });
  }, 100);

  send({ kind: 'window-start' });
  const start = performance.now();
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * rate));
      while (emitted < due) {
        emittedAt[emitted] = now;
        queue.emit(stormEvent(mac(emitted)));
        emitted++;
      }
      if (emitted >= total) {
        clearInterval(tick);
        done();
      }
    }, 5);
  });
  send({ kind: 'window-end' });
  const windowEnd = performance.now();
  while (queue.shipped < total && performance.now() - windowEnd < drainTimeoutMs) await new Promise((r) => setTimeout(r, 20));
  const drainMs = performance.now() - windowEnd;
  clearInterval(sampler);
  lagNow(performance.now());
  await queue.stop();
  queue.close();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  send({ kind: 'done', drained: queue.shipped >= total, drainMs, lags, posts });
  process.disconnect();
}

/* ------------------------------------------------------------------ orchestration */
const TICK_MS = 10;
function cpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}
function hostCpuMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system (idle iowait excluded) irq softirq steal
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * TICK_MS;
}

interface StepResult {
  kind: 'app' | 'trivial';
  rate: number;
  serverWindowMs: number;
  serverTotalMs: number;
  relayMs: number;
  relayPeakRssMb: number;
  relayStartRssMb: number;
  acceptedPerSec: number;
  shipped: number;
  posts: number;
  peakDepth: number;
  lagP50Ms: number;
  lagMaxMs: number;
  drained: boolean;
  drainMs: number;
  /** Everything else on the box during the step (other engineers' work): contention shows here. */
  othersMs: number;
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);

async function runStep(kind: StepResult['kind'], server: { url: string; token: string; pid: number }, rate: number, seconds: number, step: number): Promise<StepResult> {
  const child: ChildProcess = fork(import.meta.filename, ['--role', 'relay', '--url', server.url, '--token', server.token, '--rate', String(rate), '--seconds', String(seconds), '--step', String(step), '--drain-timeout', values['drain-timeout']!], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const relayPid = child.pid!;
  let peakDepth = 0;
  let peakRss = 0;
  let startRss = 0;
  let shippedAtWindowEnd = 0;
  let lastShipped = 0;
  let windowStart = { server: cpuMs(server.pid), host: hostCpuMs(), t: performance.now() };
  let atWindowEnd = { server: 0, t: 0 };
  let relayCpu = 0;
  let relayAtStart = 0;
  const done = await new Promise<Extract<RelayMessage, { kind: 'done' }>>((resolve, reject) => {
    child.on('message', (m: RelayMessage) => {
      if (m.kind === 'sample') {
        peakDepth = Math.max(peakDepth, m.sample.depth);
        peakRss = Math.max(peakRss, m.sample.rssKb);
        startRss ||= m.sample.rssKb;
        lastShipped = m.sample.shipped;
        relayCpu = cpuMs(relayPid);
      } else if (m.kind === 'window-start') {
        relayAtStart = cpuMs(relayPid);
        windowStart = { server: cpuMs(server.pid), host: hostCpuMs(), t: performance.now() };
      } else if (m.kind === 'window-end') {
        atWindowEnd = { server: cpuMs(server.pid), t: performance.now() };
        shippedAtWindowEnd = lastShipped;
      } else {
        relayCpu = cpuMs(relayPid);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`relay child exited (${code}) before reporting`)));
    child.once('error', reject);
  });
  relayCpu -= relayAtStart;
  const serverEnd = cpuMs(server.pid);
  const hostEnd = hostCpuMs();
  await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  const serverTotalMs = serverEnd - windowStart.server;
  return {
    kind,
    rate,
    serverWindowMs: atWindowEnd.server - windowStart.server,
    serverTotalMs,
    relayMs: relayCpu,
    relayPeakRssMb: peakRss / 1024,
    relayStartRssMb: startRss / 1024,
    acceptedPerSec: shippedAtWindowEnd / ((atWindowEnd.t - windowStart.t) / 1000),
    shipped: rate * seconds,
    posts: done.posts,
    peakDepth,
    lagP50Ms: quantile(done.lags, 0.5),
    lagMaxMs: Math.max(...done.lags),
    drained: done.drained,
    drainMs: done.drainMs,
    othersMs: Math.max(0, hostEnd - windowStart.host - serverTotalMs - relayCpu),
  };
}

interface Server {
  url: string;
  token: string;
  pid: number;
  stop(): Promise<void>;
}


/** Starts a server process and resolves with its address once it prints it; `pid` is what the CPU is read from. */
async function spawnServer(name: string, args: string[], env: Record<string, string> = {}): Promise<{ url: string; pid: number; adminToken: string; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const dataDir = mkdtempSync(join(tmpdir(), `edgeboot-${name}-`));
  const adminToken = `ebt_${name.replace(/[^a-z0-9]/gi, '')}admintoken`.padEnd(36, '0');
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', EDGEBOOT_DATA: dataDir, EDGEBOOT_ADMIN_TOKEN: adminToken, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${name} exited (${code}):\n${output}`)));
  });
  return { url, pid: child.pid!, adminToken, stop };
}

const REPO_ROOT = join(import.meta.dirname, '../..');

async function startApp(profileDir: string | undefined): Promise<Server> {
  const { createSite, enrollRelay } = await import('../contract/fixtures.ts');
  const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const s = await spawnServer('bench-events', [...prof, 'cloud/src/entry/node.ts']);
  const target = { name: 'node', adminToken: s.adminToken, fetch: (path: string, init?: RequestInit) => fetch(`${s.url}${path}`, init) };
  const relay = await enrollRelay(target, await createSite(target));
  return { url: s.url, token: relay.token, pid: s.pid, stop: s.stop };
}

async function startTrivial(): Promise<Server> {
  const s = await spawnServer('bench-events-trivial', [import.meta.filename, '--role', 'trivial']);
  return { url: s.url, token: 'ebt_trivialhandlerneedsnotoken000000', pid: s.pid, stop: s.stop };
}

/** Top self-time frames of a .cpuprofile (V8's format: nodes with callFrame, samples, timeDeltas). */
function topFrames(file: string, n = 20): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const cf = byId.get(id)!.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^file:\/\/.*?\/(node_modules|cloud|shared)\//, '$1/')}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  const busy = total - idle;
  return [...self]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
}

async function main(): Promise<void> {
  const rates = values.rates!.split(',').map(Number);
  const seconds = Number(values.seconds);
  const repeat = Number(values.repeat);
  const kinds = values.only!.split(',') as StepResult['kind'][];
  const profileDir = values.profile;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const results: StepResult[] = [];
  let step = 0;
  for (let round = 0; round < repeat; round++) {
    // Fresh servers each round: the app's table grows by every step's events within a round only.
    const app = kinds.includes('app') ? await startApp(profileDir) : null;
    const trivial = kinds.includes('trivial') ? await startTrivial() : null;
    try {
      for (const rate of rates) {
        for (const [kind, server] of [['app', app], ['trivial', trivial]] as const) {
          if (!server) continue;
          const r = await runStep(kind, server, rate, seconds, ++step);
          results.push(r);
          console.log(
            `round ${round + 1} ${kind.padEnd(7)} ${String(rate).padStart(6)}/s: server ${(r.serverWindowMs / 1000).toFixed(2)} CPU-s in window, ${(r.serverTotalMs / 1000).toFixed(2)} until drained; ` +
              `relay ${(r.relayMs / 1000).toFixed(2)} CPU-s, RSS ${r.relayStartRssMb.toFixed(0)} → peak ${r.relayPeakRssMb.toFixed(0)} MB; accepted ${r.acceptedPerSec.toFixed(0)}/s; ${r.posts} POSTs; ` +
              `peak depth ${r.peakDepth}; lag p50 ${r.lagP50Ms.toFixed(0)} ms max ${r.lagMaxMs.toFixed(0)} ms; ${r.drained ? `drained ${(r.drainMs / 1000).toFixed(1)} s after` : 'NOT drained'}; others on the box ${(r.othersMs / 1000).toFixed(2)} CPU-s`,
          );
        }
      }
    } finally {
      await app?.stop();
      await trivial?.stop();
    }
  }

  console.log(`\nmedians over ${repeat} round(s), ${seconds} s of emission per step (CPU-s = user+system of the process, /proc/<pid>/stat):`);
  console.log('rate/s  | cloud CPU-s (window / to drained) | trivial CPU-s (window / to drained) | ms per 1k events cloud / trivial = ratio | accepted/s cloud | POSTs cloud | relay CPU-s cloud / trivial | relay RSS MB start → peak | peak depth | lag p50 / max ms | others CPU-s');
  const med = (k: StepResult['kind'], rate: number, f: (r: StepResult) => number) => median(results.filter((r) => r.kind === k && r.rate === rate).map(f));
  for (const rate of rates) {
    const per1k = (k: StepResult['kind']) => med(k, rate, (r) => (r.serverTotalMs / r.shipped) * 1000);
    console.log(
      [
        String(rate).padEnd(7),
        `${(med('app', rate, (r) => r.serverWindowMs) / 1000).toFixed(2)} / ${(med('app', rate, (r) => r.serverTotalMs) / 1000).toFixed(2)}`,
        `${(med('trivial', rate, (r) => r.serverWindowMs) / 1000).toFixed(2)} / ${(med('trivial', rate, (r) => r.serverTotalMs) / 1000).toFixed(2)}`,
        `${per1k('app').toFixed(1)} / ${per1k('trivial').toFixed(1)} = ${(per1k('app') / per1k('trivial')).toFixed(2)}x`,
        med('app', rate, (r) => r.acceptedPerSec).toFixed(0),
        med('app', rate, (r) => r.posts).toFixed(0),
        `${(med('app', rate, (r) => r.relayMs) / 1000).toFixed(2)} / ${(med('trivial', rate, (r) => r.relayMs) / 1000).toFixed(2)}`,
        `${med('app', rate, (r) => r.relayStartRssMb).toFixed(0)} → ${med('app', rate, (r) => r.relayPeakRssMb).toFixed(0)}`,
        med('app', rate, (r) => r.peakDepth).toFixed(0),
        `${med('app', rate, (r) => r.lagP50Ms).toFixed(0)} / ${med('app', rate, (r) => r.lagMaxMs).toFixed(0)}`,
        (med('app', rate, (r) => r.othersMs) / 1000).toFixed(2),
      ].join(' | '),
    );
  }
  if (profileDir) {
    for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile'))) {
      console.log(`\ncloud profile ${join(profileDir, f)}, top self-time frames (share of non-idle samples):`);
      for (const line of topFrames(join(profileDir, f))) console.log(`  ${line}`);
    }
  }
}

if (values.role === 'trivial') await trivialRole();
else if (values.role === 'relay') await relayRole();
else await main();
