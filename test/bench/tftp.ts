/**
 * Benchmark (not a test): our TFTP server against tftp-hpa's in.tftpd, same files, same clients, same
 * run, both on 127.0.0.1 high ports and both serving from disk (the page cache, after a warm-up).
 *   - curl `--tftp-blksize 1468` (window 1, what every firmware does) for 1 MiB and 32 MiB;
 *   - atftp `blksize 1468 windowsize 8`: our server honours the window, in.tftpd ignores the option
 *     and runs at window 1 (it has no RFC 7440), so this is the same client against both;
 *   - 200 concurrent curl × 1 MiB: wall time until the last finishes.
 * Ratios are in.tftpd time / our time: above 1 means ours is faster.
 *
 *   npm run bench:tftp [-- --reps 15]
 *
 * Needs curl, atftp, tftpd-hpa (`in.tftpd`, run here in the foreground: never the system service).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({ options: { reps: { type: 'string', default: '15' }, concurrent: { type: 'string', default: '200' } } });
const REPS = Number(values.reps);
const CONCURRENT = Number(values.concurrent);
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
  stop(): Promise<string>;
}

function freePortish(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

async function startOurs(): Promise<Server> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'tftp', 'our-server.ts'), root, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /ready (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`our server exited with ${code}`)));
  });
  return {
    name: 'ours',
    port,
    proc,
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
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve(''));
        proc.kill('SIGTERM');
      }),
  };
}

type Client = (s: Server, file: string, dest: string) => Promise<unknown>;
const curl: Client = (s, file, dest) => run('curl', ['-sS', '--fail', '--tftp-blksize', '1468', '-o', dest, `tftp://127.0.0.1:${s.port}/${file}`]);
const atftpWindow8: Client = (s, file, dest) =>
  run('atftp', ['-g', '-r', file, '-l', dest, '--option', 'blksize 1468', '--option', 'windowsize 8', '127.0.0.1', String(s.port)]);

/** Byte comparison by `cmp` in a child: reading 64 MiB into this process would leave V8's
 * background GC threads competing with the next timed run on a 2-core machine. */
function check(dest: string, file: string) {
  if (spawnSync('cmp', ['-s', dest, join(root, file)]).status !== 0) throw new Error(`${dest} differs from ${file}`);
}

async function timeOne(client: Client, s: Server, file: string): Promise<number> {
  const dest = join(out, `${s.name}-${file}`);
  const t0 = performance.now();
  await client(s, file, dest);
  const ms = performance.now() - t0;
  check(dest, file);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Alternates servers rep by rep so drift (other load on the machine) hits both alike. */
async function compare(label: string, client: Client, file: string, reps: number, servers: Server[]): Promise<Record<string, number>> {
  for (const s of servers) await timeOne(client, s, file); // warm-up: JIT, page cache
  const times: Record<string, number[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
  for (let i = 0; i < reps; i++) for (const s of servers) times[s.name]!.push(await timeOne(client, s, file));
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const size = statSync(join(root, file)).size;
  const cells = Object.entries(med).map(([k, ms]) => `${k} ${ms.toFixed(1)} ms (${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s)`);
  console.log(`${label.padEnd(44)} ${cells.join('   ')}   ratio ${(med['tftp-hpa']! / med.ours!).toFixed(2)}×`);
  return med;
}

async function concurrent(s: Server, n: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => curl(s, 'm1.bin', join(out, `c-${s.name}-${i}`))));
  const ms = performance.now() - t0;
  for (let i = 0; i < n; i++) check(join(out, `c-${s.name}-${i}`), 'm1.bin');
  return ms;
}

const ours = await startOurs();
const hpa = await startHpa();
try {
  console.log(`TFTP on loopback, median of ${REPS} (32 MiB: ${Math.max(3, Math.floor(REPS / 3))}); ratio = tftp-hpa time / ours\n`);
  const both = [ours, hpa];
  await compare('curl blksize 1468, 1 MiB', curl, 'm1.bin', REPS, both);
  await compare('curl blksize 1468, 32 MiB', curl, 'm32.bin', Math.max(3, Math.floor(REPS / 3)), both);
  await compare('atftp blksize 1468 windowsize 8, 1 MiB', atftpWindow8, 'm1.bin', REPS, both);
  await compare('atftp blksize 1468 windowsize 8, 32 MiB', atftpWindow8, 'm32.bin', Math.max(3, Math.floor(REPS / 3)), both);
  const c: Record<string, number> = {};
  for (const s of both) await concurrent(s, 10); // warm-up
  for (const s of both) c[s.name] = await concurrent(s, CONCURRENT);
  console.log(`${`${CONCURRENT} concurrent curl × 1 MiB`.padEnd(44)} ours ${c.ours!.toFixed(0)} ms   tftp-hpa ${c['tftp-hpa']!.toFixed(0)} ms   ratio ${(c['tftp-hpa']! / c.ours!).toFixed(2)}×`);
} finally {
  const stats = await ours.stop();
  await hpa.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nour server at exit: ${stats}`);
}
