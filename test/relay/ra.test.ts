import { chownSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../relay/src/log.ts';
import { parseIfInet6 } from '../../relay/src/ra/interface-probe.ts';
import { parseRaPrefix, RaConfigError } from '../../relay/src/ra/prefix.ts';
import { ulaPrefixes } from '../../relay/src/ra/ula-store.ts';
import { startRouterAdvertisements, type RaStatus } from '../../relay/src/ra/radvd.ts';
import { createTestbed, requireTools, type Spawned, type Testbed } from '../support/netns.ts';
import { until } from './support/relay-harness.ts';

/**
 * Router advertisements from the relay's radvd supervisor, on a LAN of network namespaces:
 *
 *   relay  (the supervisor in a Node process of its own, which starts Debian's radvd) ─┐
 *   client (rdisc6 from Debian's ndisc6, and the kernel's own SLAAC) ──────────────────┴── LAN
 *
 * The supervisor runs inside the relay's namespace because it reads that namespace's /proc files
 * (disable_ipv6, if_inet6) and starts radvd there, as the relay does on a site. Peers are real:
 * radvd sends, rdisc6 solicits and decodes, the client's kernel forms addresses.
 */
requireTools(['ip', 'radvd', 'rdisc6', 'setpriv']);

const RADVD = join(import.meta.dirname, '../../relay/src/ra/radvd.ts');
const LOG = join(import.meta.dirname, '../../relay/src/log.ts');

/** The supervisor as the relay runs it, driven over stdin: `status N` and `close N`; JSON lines out. */
const RUNNER = `
import { createInterface } from 'node:readline';
import { startRouterAdvertisements } from ${JSON.stringify(pathToFileURL(RADVD).href)};
import { createLogger } from ${JSON.stringify(pathToFileURL(LOG).href)};
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const log = createLogger({ component: 'ra' });
let ra;
try {
  ra = await startRouterAdvertisements({ ...JSON.parse(process.argv[1]), log });
} catch (e) {
  say({ msg: 'start-failed', name: e.name, error: e.message });
  process.exit(0);
}
say({ msg: 'ready', status: ra.status() });
createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, seq] = line.split(' ');
  if (cmd === 'status') say({ msg: 'status', seq, status: ra.status() });
  if (cmd === 'close') {
    await ra.close();
    say({ msg: 'closed', seq, status: ra.status() });
    process.exit(0);
  }
});
`;

interface Lan {
  bed: Testbed;
  stateDir: string;
}

async function lan(tag: string): Promise<Lan> {
  const bed = await createTestbed(tag);
  await bed.namespace('relay');
  await bed.namespace('client');
  await bed.lan('lan');
  await bed.attach('relay', 'lan', 'eth0', '10.91.0.2/24');
  await bed.attach('client', 'lan', 'eth0');
  // Neither end can send ICMPv6 before duplicate address detection has passed its link-local address.
  for (const ns of ['relay', 'client']) {
    await until(`${ns}'s link-local address`, async () => {
      const r = await bed.run(ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
      return /inet6 fe80::/.test(r.stdout) && !/tentative/.test(r.stdout);
    }, 10_000);
  }
  return { bed, stateDir: mkdtempSync(join(tmpdir(), 'edgeboot-ra-')) };
}

interface Supervisor {
  sp: Spawned;
  ready: { msg: string; status: RaStatus; name?: string; error?: string };
  status(): Promise<RaStatus>;
  close(): Promise<RaStatus>;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
}

let seq = 0;
/** `caps`: run as nobody (uid 65534) with only these capabilities, as the relay's systemd unit runs it. */
async function supervise(l: Lan, opts: Record<string, unknown>, as?: { caps: string[] }): Promise<Supervisor> {
  const argv = [process.execPath, '--input-type=module', '-e', RUNNER, JSON.stringify({ stateDir: l.stateDir, restartBaseMs: 200, restartCapMs: 1000, recheckMs: 200, ...opts })];
  if (as) chownSync(l.stateDir, 65534, 65534);
  const caps = as?.caps.map((c) => `+${c}`).join(',');
  const setpriv = as ? ['--reuid=65534', '--regid=65534', '--clear-groups', ...(caps ? [`--inh-caps=${caps}`, `--ambient-caps=${caps}`] : [])] : [];
  const sp = as ? l.bed.spawn('relay', 'setpriv', [...setpriv, ...argv], { stdin: 'pipe' }) : l.bed.spawn('relay', argv[0]!, argv.slice(1), { stdin: 'pipe' });
  const parse = (line: string) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const ask = async (cmd: string) => {
    const n = String(++seq);
    sp.child.stdin!.write(`${cmd} ${n}\n`);
    const line = await sp.waitForLine((s) => parse(s).seq === n, 15_000);
    return parse(line).status as RaStatus;
  };
  const ready = parse(await sp.waitForLine((s) => ['ready', 'start-failed'].includes(parse(s).msg as string), 20_000)) as Supervisor['ready'];
  return { sp, ready, status: () => ask('status'), close: () => ask('close'), logs: () => sp.stdout.map(parse) };
}

interface Ra {
  managed: boolean;
  other: boolean;
  routerLifetime: number;
  prefixes: string[];
  from: string;
}

/** Solicits from the client with rdisc6 and decodes the first advertisement that answers. */
async function solicit(l: Lan): Promise<Ra> {
  const r = await l.bed.run('client', 'rdisc6', ['-1', '-w', '1000', '-r', '10', 'eth0'], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`rdisc6 heard no router advertisement (exit ${r.code}): ${r.stdout}${r.stderr}`);
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(r.stdout)?.[1]?.trim();
  return {
    managed: field('Stateful address conf\\.') === 'Yes',
    other: field('Stateful other conf\\.') === 'Yes',
    routerLifetime: Number(/^(\d+)/.exec(field('Router lifetime') ?? '')?.[1]),
    prefixes: [...r.stdout.matchAll(/^\s*Prefix\s*:\s*(\S+)/gm)].map((m) => m[1]!),
    from: /^\s*from (\S+)/m.exec(r.stdout)?.[1] ?? '',
  };
}

async function relayLinkLocal(l: Lan): Promise<string> {
  const r = await l.bed.run('relay', 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
  return /inet6 (fe80::[0-9a-f:]+)\//.exec(r.stdout)?.[1] ?? '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function withLan(tag: string, fn: (l: Lan) => Promise<void>): Promise<void> {
  const l = await lan(tag);
  try {
    await fn(l);
  } finally {
    await l.bed.cleanup();
  }
}

describe('router advertisements (radvd supervised by the relay)', () => {
  it('advertises M=0, O=0, router lifetime 0 and no prefix when no prefix is configured', () =>
    withLan('ranone', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      expect(s.ready.status.state).toBe('running');
      const ra = await solicit(l);
      expect(ra).toEqual({ managed: false, other: false, routerLifetime: 0, prefixes: [], from: await relayLinkLocal(l) });
      const conf = join(l.stateDir, 'ra', 'radvd.conf');
      expect(statSync(conf).mode & 0o777).toBe(0o644);
      expect(readFileSync(conf, 'utf8')).not.toMatch(/prefix /);
      await s.close();
    }));

  it('advertises a configured /64, and the client kernel forms a SLAAC address in it', () =>
    withLan('ragiven', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0', prefix: 'FD42:0001:0002:0003::/64' }] });
      const ra = await solicit(l);
      expect(ra.prefixes).toEqual(['fd42:1:2:3::/64']);
      expect([ra.managed, ra.other, ra.routerLifetime]).toEqual([false, false, 0]);
      const addr = await until('a SLAAC address on the client', async () => {
        const r = await l.bed.run('client', 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0']);
        return /inet6 (fd42:1:2:3:[0-9a-f:]+)\/64/.exec(r.stdout)?.[1];
      }, 15_000);
      expect(addr.startsWith('fd42:1:2:3:')).toBe(true);
      // Router lifetime 0: the client gained no default route through the relay.
      const routes = await l.bed.run('client', 'ip', ['-6', 'route', 'show', 'default']);
      expect(routes.stdout.trim()).toBe('');
      await s.close();
    }));

  it('generates a ULA /64 once and advertises the same one after a restart', () =>
    withLan('raula', async (l) => {
      const first = await supervise(l, { interfaces: [{ name: 'eth0', prefix: 'ula' }] });
      const prefix = first.ready.status.interfaces[0]!.prefix!;
      expect(prefix).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
      const stored = JSON.parse(readFileSync(join(l.stateDir, 'ra', 'ula.json'), 'utf8'));
      expect(prefix).toBe(parseRaPrefix(`${stored.globalId}:0::/64`)); // canonical: a zero third group folds into '::'
      expect(stored.subnets).toEqual({ eth0: 0 });
      expect((await solicit(l)).prefixes).toEqual([prefix]);
      await first.close();

      const second = await supervise(l, { interfaces: [{ name: 'eth0', prefix: 'ula' }] });
      expect(second.ready.status.interfaces[0]!.prefix).toBe(prefix);
      expect((await solicit(l)).prefixes).toEqual([prefix]);
      await second.close();
    }));

  it('never claims to be a default router, even on a host that forwards IPv6', () =>
    withLan('rafwd', async (l) => {
      await l.bed.run('relay', 'sysctl', ['-w', 'net.ipv6.conf.all.forwarding=1']);
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      expect((await solicit(l)).routerLifetime).toBe(0);
      await s.close();
    }));

  it('starts radvd again after it is killed', () =>
    withLan('rakill', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      const first = s.ready.status.pid!;
      expect(alive(first)).toBe(true);
      process.kill(first, 'SIGKILL'); // radvd, started by the supervisor this test started
      const again = await until('a new radvd', async () => {
        const st = await s.status();
        return st.state === 'running' && st.pid !== first ? st : null;
      }, 15_000);
      expect(again.starts).toBe(2);
      expect(again.lastExit?.signal).toBe('SIGKILL');
      expect(alive(first)).toBe(false);
      expect(alive(again.pid!)).toBe(true);
      expect((await solicit(l)).routerLifetime).toBe(0);
      expect(s.logs().some((o) => o.level === 'warn' && o.msg === 'radvd exited; starting it again' && o.signal === 'SIGKILL')).toBe(true);
      await s.close();
    }));

  it('runs unprivileged with CAP_NET_RAW alone, as the relay unit grants it', () =>
    withLan('racap', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] }, { caps: ['net_raw'] });
      expect(s.ready.status.state).toBe('running');
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${s.ready.status.pid}/status`, 'utf8'))?.[1];
      expect(uid).toBe('65534');
      expect((await solicit(l)).routerLifetime).toBe(0);
      await s.close();
    }));

  it('names the missing capability when radvd may not open its ICMPv6 socket', () =>
    withLan('ranocap', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] }, { caps: [] });
      const err = await until('the error line', () => s.logs().find((o) => o.level === 'error' && o.component === 'ra.radvd'));
      expect(err.msg).toBe("radvd may not open its ICMPv6 socket: can't create socket(AF_INET6): Operation not permitted");
      expect(err.fix).toMatch(/^radvd needs CAP_NET_RAW: add it to the unit \(AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW/);
      const st = await until('a failed run recorded', async () => {
        const x = await s.status();
        return x.lastExit?.code === 1 ? x : null;
      });
      expect(st.error).toContain('CAP_NET_RAW');
      await s.close();
    }));

  it('stops the radvd a killed relay left running before starting its own', () =>
    withLan('raorphan', async (l) => {
      // What a relay killed with SIGKILL can leave behind: a radvd on the relay's own config and pid
      // file, with no supervisor. (A radvd whose supervisor dies usually follows it at its next log
      // line, of SIGPIPE, but not before.) The test starts that radvd itself, from the relay's files.
      const first = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      await first.close();
      const pidFile = join(l.stateDir, 'ra', 'radvd.pid');
      const left = l.bed.spawn('relay', 'radvd', ['--nodaemon', '--config', join(l.stateDir, 'ra', 'radvd.conf'), '--pidfile', pidFile, '--logmethod', 'stderr_clean']);
      await until('the leftover radvd has written its pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') === `${left.pid}\n`);
      const second = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      expect(second.logs().find((o) => o.msg === 'stopping a radvd left running by an earlier relay')?.pid).toBe(left.pid);
      expect(await left.exited).toEqual({ code: 0, signal: null }); // radvd's own clean exit on SIGTERM
      expect(second.ready.status.state).toBe('running');
      expect(second.ready.status.pid).not.toBe(left.pid);
      // radvd writes it once it has started, which may be just after the supervisor calls it running.
      await until('the new radvd holds the pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') === `${second.ready.status.pid}\n`);
      expect((await solicit(l)).routerLifetime).toBe(0);
      await second.close();
    }));

  it('close() stops radvd and waits for it to be gone', () =>
    withLan('raclose', async (l) => {
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      const pid = s.ready.status.pid!;
      const pidFile = join(l.stateDir, 'ra', 'radvd.pid');
      // radvd writes it just after the supervisor reports it running (the full suite caught the gap).
      await until('radvd has written its pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') === `${pid}\n`);
      const after = await s.close();
      expect(after.state).toBe('closed');
      expect(after.pid).toBe(null);
      expect(alive(pid)).toBe(false);
      expect(existsSync(pidFile)).toBe(false);
    }));

  it('says radvd is missing, with the package to install, and keeps running', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ write: (l) => lines.push(JSON.parse(l)) });
    const stateDir = mkdtempSync(join(tmpdir(), 'edgeboot-ra-'));
    const ra = await startRouterAdvertisements({ interfaces: [{ name: 'lo' }], stateDir, log, radvdPath: join(stateDir, 'no-radvd-here') });
    const st = ra.status();
    expect(st.state).toBe('unavailable');
    expect(st.pid).toBe(null);
    expect(st.error).toBe(`radvd is not installed (no ${join(stateDir, 'no-radvd-here')})`);
    const err = lines.find((l) => l.level === 'error' && String(l.msg).startsWith('radvd is not installed'));
    expect(err?.fix).toBe('apt-get install radvd, or set ra = false for the LAN');
    await ra.close();
    expect(ra.status().state).toBe('closed');
  });

  it('rejects a prefix that is not a /64 unicast prefix, before writing or starting anything', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'edgeboot-ra-'));
    const log = createLogger({ quiet: true });
    for (const [prefix, why] of [
      ['fd00:1::/48', /must be a \/64/],
      ['fd00:1::1/64', /host bits are set; the \/64 is fd00:1::\/64/],
      ['fe80::/64', /link-local/],
      ['ff02::/64', /multicast/],
      ['fd00:zz::/64', /write "none", "ula" or an IPv6 \/64/],
      ['fd00:::1::/64', /not an IPv6 address/],
      ['10.0.0.0/24', /not an IPv6 address/],
      ['yes', /write "none", "ula" or an IPv6 \/64/],
    ] as const) {
      const started = startRouterAdvertisements({ interfaces: [{ name: 'eth0', prefix }], stateDir, log, radvdPath: '/usr/sbin/radvd' });
      await expect(started).rejects.toThrow(RaConfigError);
      await expect(started).rejects.toThrow(why);
    }
    expect(existsSync(join(stateDir, 'ra'))).toBe(false);
  });

  it('reads configured prefixes into canonical /64s', () => {
    expect(parseRaPrefix('none')).toBe(null);
    expect(parseRaPrefix(undefined)).toBe(null);
    expect(parseRaPrefix('ula')).toBe('ula');
    expect(parseRaPrefix('FD12:3456:789A:0001:0:0:0:0/64')).toBe('fd12:3456:789a:1::/64');
    expect(parseRaPrefix('2001:db8:0:0::/64')).toBe('2001:db8::/64');
  });

  it('gives each LAN its own ULA /64 under one stored /48, kept when the LANs are listed in another order', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'edgeboot-ra-'));
    const first = ulaPrefixes(stateDir, ['eth0', 'eth1']);
    const { globalId } = JSON.parse(readFileSync(join(stateDir, 'ra', 'ula.json'), 'utf8'));
    expect(globalId).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/);
    const net = (subnet: number) => parseRaPrefix(`${globalId}:${subnet}::/64`); // canonical form (tested above)
    expect([...first]).toEqual([['eth0', net(0)], ['eth1', net(1)]]);
    const again = ulaPrefixes(stateDir, ['vlan7', 'eth1', 'eth0']);
    expect([...again]).toEqual([['vlan7', net(2)], ['eth1', net(1)], ['eth0', net(0)]]);
  });

  it('reads /proc/net/if_inet6 lines', () => {
    const text = 'fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000009881 bad line\n';
    expect(parseIfInet6(text)).toEqual([
      { address: 'fe80::fc:ff:fe00:1', ifindex: 4, prefixLength: 64, scope: 0x20, flags: 0x80, name: 'eth0' },
      { address: '::1', ifindex: 1, prefixLength: 128, scope: 0x10, flags: 0x80, name: 'lo' },
    ]);
  });

  it('says loudly when IPv6 is disabled on the interface, and advertises once it is enabled', () =>
    withLan('radis', async (l) => {
      await l.bed.run('relay', 'sysctl', ['-w', 'net.ipv6.conf.eth0.disable_ipv6=1']);
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      expect(s.ready.status.interfaces[0]!.problem?.reason).toBe('ipv6-disabled');
      const err = await until('the error line', () => s.logs().find((o) => o.level === 'error' && o.reason === 'ipv6-disabled'));
      expect(err.msg).toContain('sysctl -w net.ipv6.conf.eth0.disable_ipv6=0');
      await l.bed.run('relay', 'sysctl', ['-w', 'net.ipv6.conf.eth0.disable_ipv6=0']);
      await until('the interface reported ready', () => s.logs().find((o) => o.msg === 'eth0 can send router advertisements again'), 15_000);
      expect((await solicit(l)).from).toBe(await relayLinkLocal(l));
      await s.close();
    }));

  it('says so when the interface makes no link-local address (addrgenmode none)', () =>
    withLan('ranoll', async (l) => {
      for (const args of [['link', 'set', 'eth0', 'down'], ['link', 'set', 'eth0', 'addrgenmode', 'none'], ['link', 'set', 'eth0', 'up']]) await l.bed.run('relay', 'ip', args);
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      const err = await until('the error line', () => s.logs().find((o) => o.level === 'error' && o.reason === 'no-link-local-generation'));
      expect(err.msg).toContain('ip link set eth0 addrgenmode eui64');
      await s.close();
    }));

  it('warns that another router already advertises on the LAN with other flags', () =>
    withLan('raother', async (l) => {
      // A second, real radvd as the site's router, asking for DHCPv6 (M=1).
      await l.bed.namespace('router');
      await l.bed.attach('router', 'lan', 'eth0');
      const conf = join(l.stateDir, 'router-radvd.conf');
      writeFileSync(conf, 'interface eth0 { AdvSendAdvert on; AdvManagedFlag on; MaxRtrAdvInterval 4; MinRtrAdvInterval 3; };\n', { mode: 0o644 });
      const s = await supervise(l, { interfaces: [{ name: 'eth0' }] });
      l.bed.spawn('router', 'radvd', ['--nodaemon', '--config', conf, '--pidfile', join(l.stateDir, 'router.pid'), '--logmethod', 'stderr_clean']);
      const warn = await until('the warning', () => s.logs().find((o) => o.level === 'warn' && String(o.msg).startsWith('another router (fe80::')), 20_000);
      expect(warn.msg).toMatch(/sends router advertisements on eth0 whose AdvManagedFlag differs from the relay's: .*set ra = false for this LAN$/);
      await s.close();
    }));
});
