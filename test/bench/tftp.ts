/**
 * Benchmark (not a test): our TFTP server against tftp-hpa's in.tftpd, same files, same clients, same
 * run, both on 127.0.0.1 high ports and both serving from disk (the page cache, after a warm-up).
 *   - curl at window 1 (what most firmware does), 512-byte blocks (no option: RFC 1350's size) and
 *     `--tftp-blksize 1468`, for 1 MiB and 32 MiB;
 *   - atftp `blksize 1468 windowsize 8`: our server honours the window, in.tftpd ignores the option
 *     and runs at window 1 (it has no RFC 7440), so this is the same client against both;
 *   - 200 concurrent curl × 1 MiB at both block sizes: wall time until the last finishes.
 * Servers alternate run by run (the order flips each rep) so load from elsewhere on the machine hits
 * both alike; medians are printed with every run's time, so contention shows as spread. Ratios are
 * in.tftpd time / our time: above 1 means ours is faster. `ours cpu` is our server's user + system
 * time per run (/proc, 10 ms ticks, averaged), a figure other load disturbs less than wall time.
 *
 *   npm run bench:tftp [-- --reps 15] [--only 'blksize 1468'] [--profile DIR] [--floor] [--node-path]
 *
 * `ours` is the server as the relay runs it: blocks sent by its native data path (edgeboot-tftp-pump,
 * built here when missing or older than its source); --node-path adds `ours-node`, the same server sending from Node.
 * --only keeps the cases whose label contains the text; --profile runs our server under
 * `node --cpu-prof` and leaves the profile in DIR (open it in Chrome DevTools or speedscope);
 * --floor adds tftp/node-floor.ts, a Node server that does nothing per block but send a prebuilt
 * packet: at window 1 the client and the server take turns on one core, so this is as fast as a
 * Node server using dgram can be here (curl cases only: it knows no windowsize).
 *
 * Needs curl, atftp, tftpd-hpa (`in.tftpd`, run here in the foreground: never the system service).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '15' },
    concurrent: { type: 'string', default: '200' },
    'concurrent-reps': { type: 'string', default: '3' },
    only: { type: 'string' },
    profile: { type: 'string' },
    floor: { type: 'boolean', default: false },
    'node-path': { type: 'boolean', default: false },
  },
});
const REPS = Number(values.reps);
const CONCURRENT = Number(values.concurrent);
const CONCURRENT_REPS = Number(values['concurrent-reps']);
const MiB = 1 << 20;

for (const tool of ['curl', 'atftp', 'in.tftpd']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`${tool} is needed for this benchmark (apt-get install curl atftp tftpd-hpa)`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'eb-bench-tftp-'));
const root = join(dir, 'root');
const out = join(dir, 'out');
spawnSync('mkdir', ['-p', root, out]);
const files = { 'm1.bin': MiB, 'm32.bin': 32 * MiB };
for (const [name, size] of Object.entries(files)) writeFileSync(join(root, name), randomBytes(size));
// in.tftpd drops to `nobody`: the tree must be world-readable.
chmodSync(dir, 0o755);
chmodSync(root, 0o755);
for (const name of Object.keys(files)) chmodSync(join(root, name), 0o644);

interface Server {
  name: string;
  port: number;
  proc: ChildProcess;
  /** CPU ms used so far by the server, children included; null when it cannot be read. */
  cpuMs(): number | null;
  stop(): Promise<string>;
}

function freePortish(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** utime + stime of a live process from /proc (USER_HZ is 100: 10 ms ticks). */
function procCpuMs(pid: number | undefined): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

async function startOurs(name = 'ours', script = 'our-server.ts', dataPath = 'native'): Promise<Server> {
  const prof = values.profile && name === 'ours' ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [];
  const proc = spawn(process.execPath, [...prof, join(import.meta.dirname, 'tftp', script), root, '0', dataPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  let pumpPid: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /ready (\d+) ?(\d*)/.exec(text);
      if (m) {
        pumpPid = m[2] ? Number(m[2]) : undefined;
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return {
    name,
    port,
    proc,
    // The server's process and, on the native path, its pump's (a child it never reaps while running).
    cpuMs: () => {
      const own = procCpuMs(proc.pid);
      const pump = pumpPid === undefined ? 0 : procCpuMs(pumpPid);
      return own === null || pump === null ? null : own + pump;
    },
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve(text.split('\n').find((l) => l.startsWith('{')) ?? ''));
        proc.kill('SIGTERM');
      }),
  };
}

async function startHpa(): Promise<Server> {
  const port = freePortish();
  const proc = spawn('in.tftpd', ['--foreground', '--address', `127.0.0.1:${port}`, '--secure', root], { stdio: 'inherit' });
  await new Promise((r) => setTimeout(r, 300));
  if (proc.exitCode !== null) throw new Error(`in.tftpd exited with ${proc.exitCode}`);
  return {
    name: 'tftp-hpa',
    port,
    proc,
    // in.tftpd forks a child per transfer and does not wait for it in a way /proc accounts: unknown.
    cpuMs: () => null,
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve(''));
        proc.kill('SIGTERM');
      }),
  };
}

type Client = (s: Server, file: string, dest: string) => Promise<unknown>;
/** curl at window 1; blksize 512 sends no option at all (RFC 1350's block, no OACK). */
const curl =
  (blksize: number): Client =>
  (s, file, dest) =>
    run('curl', ['-sS', '--fail', ...(blksize === 512 ? [] : ['--tftp-blksize', String(blksize)]), '-o', dest, `tftp://127.0.0.1:${s.port}/${file}`]);
const atftpWindow8: Client = (s, file, dest) =>
  run('atftp', ['-g', '-r', file, '-l', dest, '--option', 'blksize 1468', '--option', 'windowsize 8', '127.0.0.1', String(s.port)]);

/** Byte comparison by `cmp` in a child: reading 64 MiB into this process would leave V8's
 * background GC threads competing with the next timed run on a 2-core machine. */
function check(dest: string, file: string) {
  if (spawnSync('cmp', ['-s', dest, join(root, file)]).status !== 0) throw new Error(`${dest} differs from ${file}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One timed run: wall ms, and the server's CPU ms when it can be read. */
async function timed(s: Server, work: () => Promise<unknown>): Promise<{ ms: number; cpu: number | null }> {
  const c0 = s.cpuMs();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const c1 = s.cpuMs();
  return { ms, cpu: c0 === null || c1 === null ? null : c1 - c0 };
}

/**
 * Runs `work` on every server `reps` times after one warm-up each (JIT, page cache), alternating
 * servers and flipping their order every rep, so drift from other load hits both alike.
 */
async function compare(label: string, reps: number, servers: Server[], work: (s: Server) => Promise<unknown>, bytes: number | null): Promise<void> {
  if (values.only && !label.includes(values.only)) return;
  for (const s of servers) await work(s);
  const times: Record<string, number[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
  for (let i = 0; i < reps; i++) {
    for (const s of i % 2 === 0 ? servers : [...servers].reverse()) {
      const r = await timed(s, () => work(s));
      times[s.name]!.push(r.ms);
      if (r.cpu !== null) cpu[s.name]!.push(r.cpu);
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const rate = (ms: number) => (bytes === null ? '' : ` (${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s)`);
  const cells = Object.entries(med).map(([k, ms]) => `${k} ${ms.toFixed(1)} ms${rate(ms)}`);
  const ourCpu = cpu.ours!.length ? `   ours cpu ${(cpu.ours!.reduce((a, b) => a + b, 0) / cpu.ours!.length).toFixed(0)} ms/run` : '';
  console.log(`${label.padEnd(44)} ${cells.join('   ')}   ratio ${(med['tftp-hpa']! / med.ours!).toFixed(2)}×${ourCpu}`);
  console.log(`${''.padEnd(44)} runs: ${Object.entries(times).map(([k, v]) => `${k} ${v.map((x) => x.toFixed(0)).join(' ')}`).join(' | ')}`);
}

const one = (client: Client, file: string) => async (s: Server) => {
  const dest = join(out, `${s.name}-${file}`);
  await client(s, file, dest);
  check(dest, file);
};

const concurrent = (client: Client, n: number) => async (s: Server) => {
  await Promise.all(Array.from({ length: n }, (_, i) => client(s, 'm1.bin', join(out, `c-${s.name}-${i}`))));
  for (let i = 0; i < n; i++) check(join(out, `c-${s.name}-${i}`), 'm1.bin');
};

const ours = await startOurs();
const hpa = await startHpa();
const floor = values.floor ? await startOurs('node-floor', 'node-floor.ts') : undefined;
const nodePath = values['node-path'] ? await startOurs('ours-node', 'our-server.ts', 'node') : undefined;
try {
  const bigReps = Math.max(3, Math.floor(REPS / 3));
  console.log(`TFTP on loopback, median of ${REPS} (32 MiB: ${bigReps}; ${CONCURRENT} concurrent: ${CONCURRENT_REPS}); ratio = tftp-hpa time / ours\n`);
  const both = nodePath ? [ours, hpa, nodePath] : [ours, hpa];
  const curlServers = floor ? [...both, floor] : both;
  for (const blksize of [512, 1468]) {
    await compare(`curl blksize ${blksize}, 1 MiB`, REPS, curlServers, one(curl(blksize), 'm1.bin'), MiB);
    await compare(`curl blksize ${blksize}, 32 MiB`, bigReps, curlServers, one(curl(blksize), 'm32.bin'), 32 * MiB);
  }
  await compare('atftp blksize 1468 windowsize 8, 1 MiB', REPS, both, one(atftpWindow8, 'm1.bin'), MiB);
  await compare('atftp blksize 1468 windowsize 8, 32 MiB', bigReps, both, one(atftpWindow8, 'm32.bin'), 32 * MiB);
  for (const blksize of [512, 1468]) {
    await compare(`${CONCURRENT} concurrent curl blksize ${blksize} × 1 MiB`, CONCURRENT_REPS, curlServers, concurrent(curl(blksize), CONCURRENT), CONCURRENT * MiB);
  }
} finally {
  const stats = await ours.stop();
  await hpa.stop();
  await floor?.stop();
  await nodePath?.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nour server at exit: ${stats}`);
}
