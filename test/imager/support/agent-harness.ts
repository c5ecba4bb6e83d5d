/**
 * The imager's agent (imager/rootfs/edgeboot-imager) run for real under the host's busybox-static,
 * with nothing but busybox applets (and Debian's zstd) on its PATH, against a cloud and relay played
 * by an HTTP server on loopback that follows the job contract (issue E): POST …/callback/job answers
 * a job, …/callback/{started,progress,succeeded,failed} are recorded, GET /files/<id>/<grant> serves
 * the image. The "disk" is a file under a fake /dev, its inventory a fake /sys/block.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

export const AGENT = resolve(import.meta.dirname, '../../../imager/rootfs/edgeboot-imager');
const BUSYBOX = '/bin/busybox';
const ZSTD = '/usr/bin/zstd';

/** Throws naming the Debian package when busybox-static or zstd is missing (never a skip). */
export function requireAgentPeers(): void {
  const missing: string[] = [];
  try {
    execFileSync(BUSYBOX, ['--list'], { stdio: 'ignore' });
  } catch {
    missing.push('busybox-static (/bin/busybox)');
  }
  try {
    execFileSync(ZSTD, ['--version'], { stdio: 'ignore' });
  } catch {
    missing.push('zstd (/usr/bin/zstd)');
  }
  if (missing.length) throw new Error(`missing: ${missing.join(', ')} — apt-get install busybox-static zstd`);
}

/** A directory of busybox applet links plus zstd: the imager's PATH, so no host tool stands in. */
export function busyboxPath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) symlinkSync(BUSYBOX, join(dir, a));
  symlinkSync(ZSTD, join(dir, 'zstd'));
  return dir;
}

/**
 * coreutils' tee, dd, wc and sha256sum, which the imager build copies from Debian's coreutils into
 * /usr/lib/edgeboot: this Debian host's own.
 */
const COREUTILS = '/usr/bin';

export interface Callback {
  event: string;
  body: any;
  authorization: string | undefined;
  at: number;
}

export interface FakeDisk {
  name: string;
  sizeBytes: number;
  removable?: boolean;
  serial?: string;
  model?: string;
  rotational?: boolean;
  /** The byte the disk file is filled with before the run (to see what was written and wiped). */
  fill?: number;
}

export type FileBehaviour =
  | { kind: 'whole' }
  /** Sends the headers for the whole file, then only `bytes` of it, then closes the connection. */
  | { kind: 'cut'; bytes: number }
  /** Sends `chunk` bytes every `everyMs`. */
  | { kind: 'throttled'; chunk: number; everyMs: number };

export interface Scenario {
  image: Uint8Array;
  format: 'raw' | 'raw.gz' | 'raw.zst';
  disks: FakeDisk[];
  /** The job's answer: by default a job for the first disk with the image's real sha256 and size. */
  job?: (req: { disks: any[] }, base: string) => { status: number; body: unknown };
  sha256?: string;
  verify?: 'stream' | 'readback';
  onSuccess?: 'reboot' | 'poweroff';
  onFailure?: 'poweroff' | 'shell';
  progressIntervalSeconds?: number;
  file?: FileBehaviour;
  /** Called every 50 ms while the agent runs, with its pid. */
  sample?: (pid: number) => void;
  timeoutMs?: number;
}

export interface AgentRun {
  code: number | null;
  output: string;
  callbacks: Callback[];
  jobRequests: Array<{ body: any; authorization: string | undefined }>;
  action: string | null;
  result: string | null;
  /** The disk files after the run, by name. */
  disk(name: string): Buffer;
  runDir: string;
  work: string;
}

export const TOKEN = 'ebc_agenttesttoken0123456789';
export const MAC = '52:54:00:a6:e7:01';

const readBody = (req: IncomingMessage) =>
  new Promise<string>((res, rej) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c)).on('end', () => res(s)).on('error', rej);
  });

export async function runAgent(s: Scenario): Promise<AgentRun> {
  const work = mkdtempSync(join(tmpdir(), 'edgeboot-agent-'));
  const callbacks: Callback[] = [];
  const jobRequests: AgentRun['jobRequests'] = [];
  const sha256 = s.sha256 ?? createHash('sha256').update(s.image).digest('hex');
  const started = Date.now();
  let base = '';

  const serveFile = (req: IncomingMessage, res: ServerResponse) => {
    const b = s.file ?? { kind: 'whole' };
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(s.image.length) });
    if (req.method === 'HEAD') return void res.end();
    if (b.kind === 'whole') return void res.end(s.image);
    if (b.kind === 'cut') {
      res.write(s.image.subarray(0, b.bytes), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    let at = 0;
    const tick = () => {
      if (res.destroyed) return;
      const next = Math.min(at + b.chunk, s.image.length);
      res.write(s.image.subarray(at, next));
      at = next;
      if (at >= s.image.length) res.end();
      else setTimeout(tick, b.everyMs);
    };
    tick();
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname.startsWith('/files/img_agenttest/')) return serveFile(req, res);
    const m = /^\/v1\/callback\/(job|started|progress|succeeded|failed)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: `no route ${req.method} ${url.pathname}` } }));
      return;
    }
    const text = await readBody(req);
    // A WAN round trip, as through the relay: an agent that half-closed its request would lose the answer.
    await new Promise((r) => setTimeout(r, 100));
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'validation_failed', message: `not JSON: ${text.slice(0, 100)}` } }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'unknown callback token' } }));
      return;
    }
    if (m[1] === 'job') {
      jobRequests.push({ body, authorization: req.headers.authorization });
      const answer = s.job?.(body, base) ?? defaultJob(body, base);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      return;
    }
    callbacks.push({ event: m[1]!, body, authorization: req.headers.authorization, at: Date.now() - started });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bootId: 'boot_agenttest', state: m[1] === 'progress' ? 'started' : m[1] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const defaultJob = (req: { disks: any[] }, b: string) => {
    const d = req.disks[0];
    return {
      status: 200,
      body: {
        bootId: 'boot_agenttest',
        machineId: 'mch_agenttest',
        mac: MAC,
        target: { name: d.name, path: d.path, size: d.size },
        image: { id: 'img_agenttest', name: 'agent-test', url: `${b}/files/img_agenttest/grant0123`, format: s.format, sha256, size: s.image.length },
        verify: s.verify ?? 'readback',
        onSuccess: s.onSuccess ?? 'reboot',
        onFailure: s.onFailure ?? 'poweroff',
        progressIntervalSeconds: s.progressIntervalSeconds ?? 3,
      },
    };
  };

  // The fake machine: /sys/block, /dev, the kernel command line.
  const sys = join(work, 'sys');
  const dev = join(work, 'dev');
  mkdirSync(dev, { recursive: true });
  const put = (p: string, v: string) => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, `${v}\n`);
  };
  for (const d of s.disks) {
    const b = join(sys, 'block', d.name);
    put(join(b, 'size'), String(d.sizeBytes / 512));
    put(join(b, 'removable'), d.removable ? '1' : '0');
    if (d.rotational !== undefined) put(join(b, 'queue/rotational'), d.rotational ? '1' : '0');
    if (d.serial !== undefined) put(join(b, 'serial'), `  ${d.serial}  `);
    if (d.model !== undefined) put(join(b, 'device/model'), `${d.model}    `);
    writeFileSync(join(dev, d.name), Buffer.alloc(d.sizeBytes, d.fill ?? 0xa5));
  }
  // Not disks: the agent must leave these out of its inventory.
  for (const n of ['loop0', 'ram0', 'sr0', 'dm-0', 'zram0']) put(join(sys, 'block', n, 'size'), '2048');
  const cmdline = join(work, 'cmdline');
  writeFileSync(cmdline, `BOOT_IMAGE=vmlinuz console=ttyS0 edgeboot.callback=${base}/v1/callback edgeboot.token=${TOKEN} edgeboot.mac=${MAC.toUpperCase()} quiet\n`);
  const runDir = join(work, 'run');
  const path = busyboxPath(join(work, 'bin'));

  const child = spawn(BUSYBOX, ['sh', AGENT], {
    env: {
      PATH: path,
      EDGEBOOT_SYSFS: sys,
      EDGEBOOT_DEV: dev,
      EDGEBOOT_CMDLINE: cmdline,
      EDGEBOOT_RUN: runDir,
      EDGEBOOT_NET: 'none',
      EDGEBOOT_DROP_CACHES: join(work, 'drop_caches'),
      EDGEBOOT_COREUTILS: COREUTILS,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const sampler = s.sample ? setInterval(() => s.sample!(child.pid!), 50) : null;
  const timer = setTimeout(() => child.kill('SIGKILL'), s.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  if (sampler) clearInterval(sampler);
  // Late progress posts in flight: let them land before the server goes.
  await new Promise((r) => setTimeout(r, 100));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  const read = (f: string) => {
    try {
      return readFileSync(join(runDir, f), 'utf8').trim();
    } catch {
      return null;
    }
  };
  return { code, output, callbacks, jobRequests, action: read('action'), result: read('result'), disk: (name) => readFileSync(join(dev, name)), runDir, work };
}

export function cleanup(run: AgentRun | undefined): void {
  if (run) rmSync(run.work, { recursive: true, force: true });
}

/** Sum of the resident memory of a process and all its descendants, in bytes (from /proc). */
export function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const visit = (p: number) => {
    try {
      const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (rss) total += Number(rss[1]) * 1024;
    } catch {
      // gone meanwhile
    }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return total;
}
