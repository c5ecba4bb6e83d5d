import { spawn, type ChildProcess } from 'node:child_process';

/**
 * perfdhcp (ISC Kea's load generator, Debian kea-admin) run inside a network namespace, and its report
 * parsed. DHCPv4 perfdhcp acts as a relay agent: it sends from <local>:67 with giaddr = <local>, and
 * servers answer it by unicast to giaddr:67 (RFC 2131 §4.1).
 */
export interface Exchange {
  sent: number;
  received: number;
  /** Not answered within the drop time (-d, default 1 s). */
  drops: number;
  minMs: number | null;
  avgMs: number | null;
  maxMs: number | null;
}

export interface PerfdhcpResult {
  /** By exchange name: `DISCOVER-OFFER`, `REQUEST-ACK`. */
  exchanges: Record<string, Exchange>;
  /** Avalanche: "It took HH:MM:SS.ffffff to provision N clients". */
  tookSeconds: number | null;
  /** Avalanche: first sends plus retransmissions. */
  sentAndResent: number | null;
  timedOut: boolean;
  /** perfdhcp's own user+system time (null without GNU time). */
  cpuSeconds: number | null;
  text: string;
}

export function parsePerfdhcp(text: string): Omit<PerfdhcpResult, 'timedOut' | 'cpuSeconds'> {
  const num = (re: RegExp, s: string) => {
    const m = re.exec(s);
    return m ? Number(m[1]) : null;
  };
  const exchanges: Record<string, Exchange> = {};
  const parts = text.split(/\*\*\*Statistics for: (\S+)\*\*\*/);
  for (let i = 1; i < parts.length; i += 2) {
    const s = parts[i + 1]!;
    exchanges[parts[i]!] = {
      sent: num(/sent packets: (\d+)/, s) ?? 0,
      received: num(/received packets: (\d+)/, s) ?? 0,
      drops: num(/drops: (\d+)/, s) ?? 0,
      minMs: num(/min delay: ([\d.]+) ms/, s),
      avgMs: num(/avg delay: ([\d.]+) ms/, s),
      maxMs: num(/max delay: ([\d.]+) ms/, s),
    };
  }
  const took = /It took (\d+):(\d+):([\d.]+) to provision/.exec(text);
  return {
    exchanges,
    tookSeconds: took ? Number(took[1]) * 3600 + Number(took[2]) * 60 + Number(took[3]) : null,
    sentAndResent: num(/Requests sent \+ resent: (\d+)/, text),
    text,
  };
}

export interface PerfdhcpRun {
  ns: string;
  /** The client address (-l) and the server's. */
  local: string;
  server: string;
  args: string[];
  /** After this, SIGINT to its process group: perfdhcp prints its final report on SIGINT (GNU time ignores it). */
  timeoutMs: number;
  /** Pin perfdhcp to this CPU (taskset). */
  cpu?: number;
  /** Wrap in GNU time for perfdhcp's own CPU use. */
  time?: string | null;
  /** Told of the child, so the caller can stop it on an early exit. */
  onSpawn?: (child: ChildProcess) => void;
  /** Environment variables for perfdhcp (e.g. support/rcvbuf-shim.ts's). */
  env?: Record<string, string>;
}

export async function perfdhcp(o: PerfdhcpRun): Promise<PerfdhcpResult> {
  const cmd = ['perfdhcp', '-4', '-l', o.local, ...o.args, o.server];
  const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const prefix = [...(env.length ? ['env', ...env] : []), ...(o.cpu === undefined ? [] : ['taskset', '-c', String(o.cpu)]), ...(o.time ? [o.time, '-f', '@@cpu %U %S'] : [])];
  const child = spawn('ip', ['netns', 'exec', o.ns, ...prefix, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  o.onSpawn?.(child);
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  let timedOut = false;
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const t = setTimeout(() => {
    timedOut = true;
    group('SIGINT');
    setTimeout(() => group('SIGKILL'), 3000).unref();
  }, o.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(t);
  // 0: every exchange completed; 3: some did not (a measurement, not an error).
  if (code !== 0 && code !== 3 && !timedOut) throw new Error(`${cmd.join(' ')} exited with ${code}:\n${text.slice(-2000)}`);
  const cpu = /^@@cpu ([\d.]+) ([\d.]+)$/m.exec(text);
  return { ...parsePerfdhcp(text), timedOut, cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : null };
}
