import { spawn } from 'node:child_process';
import type { PowerState } from '../../../shared/schemas/bmc.ts';
import { BmcError, type BmcDriver, type BmcTarget } from './driver.ts';

/**
 * IPMI v2.0 over LAN (RMCP+) by driving Debian's `ipmitool -I lanplus` (a dependency of the relay's
 * package). The password goes in the IPMI_PASSWORD environment variable with `-E`, never on the
 * command line (where `ps` would show it). Each run is bounded twice: ipmitool's own per-try timeout
 * and retries (`-N`, `-R`) and a kill after `hardTimeoutMs`, so a BMC that hangs cannot hang a job.
 *
 * Cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is asked for explicitly: every IPMI 2.0
 * BMC has it, and naming it skips "Get Channel Cipher Suites", which simpler BMCs (ipmi_sim) lack.
 * ipmitool exits 0 when a boot-parameter write is refused, so stderr is read as well as the status.
 */
export interface IpmitoolOptions {
  /** The program and leading arguments (default `['ipmitool']`; tests prefix `ip netns exec NS`). */
  command?: readonly string[];
  /** Seconds per try (`-N`). */
  tryTimeoutS?: number;
  /** Retries after the first try (`-R`). */
  retries?: number;
  hardTimeoutMs?: number;
  cipherSuite?: number;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
export function splitHostPort(address: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : 623 };
  const at = address.lastIndexOf(':');
  if (at > 0 && address.indexOf(':') === at) return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
  return { host: address, port: 623 };
}

/**
 * `-v` is what makes ipmitool say *why* a session failed (RAKP 2 HMAC invalid = wrong password); it
 * also prints start-up chatter, some of it error-like (a BMC without the VSO extension), dropped here.
 */
const CHATTER = /^(Loading IANA PEN Registry|Running Get VSO Capabilities|Invalid completion code received: Invalid command|Discovered IPMB address|>> |Get Channel Cipher Suites|Unable to Get Channel Cipher Suites)/;

/** What ipmitool's error text means, for an operator. */
export function classifyIpmitoolFailure(address: string, r: Run): BmcError {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l && !CHATTER.test(l));
  const err = lines.join('\n');
  if (/RAKP 2 HMAC is invalid|RAKP 2 message indicates an error : (?:invalid|inactive)/i.test(err)) {
    return new BmcError('auth', `the BMC at ${address} refused the user name or password (RMCP+ RAKP)`);
  }
  if (/unauthorized name/i.test(err)) return new BmcError('auth', `the BMC at ${address} does not know this user`);
  if (/Get Auth Capabilities error|Unable to establish IPMI v2|No response|Error issuing Get Channel/i.test(err)) {
    return new BmcError('unreachable', `no valid IPMI answer from ${address} (unreachable, not an IPMI 2.0 BMC, or answering garbage)`);
  }
  const refusal = lines.find((l) => /failed|Invalid|Insufficient|not supported/i.test(l));
  if (refusal) return new BmcError('refused', `the BMC at ${address} refused the command: ${refusal.slice(0, 160)}`);
  return new BmcError('protocol', `ipmitool ended with status ${r.code}${lines.length ? `: ${lines[lines.length - 1]!.slice(0, 160)}` : ''}`);
}

export function ipmitoolDriver(target: BmcTarget, opts: IpmitoolOptions = {}): BmcDriver {
  const { host, port } = splitHostPort(target.address);
  const hardTimeoutMs = opts.hardTimeoutMs ?? 30_000;

  function run(args: string[]): Promise<Run> {
    const argv = ['-I', 'lanplus', '-H', host, '-p', String(port), '-U', target.username, '-E', '-C', String(opts.cipherSuite ?? 3), '-N', String(opts.tryTimeoutS ?? 2), '-R', String(opts.retries ?? 2), '-v', ...args];
    return new Promise((resolve, reject) => {
      // Only what ipmitool needs: the password is in this child's environment alone.
      const [program, ...lead] = opts.command ?? ['ipmitool'];
      const child = spawn(program!, [...lead, ...argv], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: target.password }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-8192)));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new BmcError('timeout', `ipmitool did not finish within ${hardTimeoutMs / 1000} s against ${target.address}`));
      }, hardTimeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new BmcError('tool', `cannot run ipmitool (${(err as NodeJS.ErrnoException).code ?? err.message}): install the ipmitool package`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  async function ok(args: string[], expect: RegExp): Promise<string> {
    const r = await run(args);
    const m = expect.exec(r.stdout);
    // A refusal of a boot-parameter write exits 0: stderr tells.
    if (r.code === 0 && m && !/failed:/i.test(r.stderr)) return m[1] ?? m[0];
    throw classifyIpmitoolFailure(target.address, r);
  }

  return {
    async powerState(): Promise<PowerState> {
      return (await ok(['chassis', 'power', 'status'], /Chassis Power is (on|off)/i)).toLowerCase() as PowerState;
    },
    async power(action) {
      await ok(['chassis', 'power', action], /Chassis Power Control: \S+/);
    },
    async shutdown() {
      await ok(['chassis', 'power', 'soft'], /Chassis Power Control: \S+/);
    },
    async bootFromNetworkOnce() {
      await ok(['chassis', 'bootdev', 'pxe'], /Set Boot Device to pxe/);
    },
  };
}
