import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, lanSpecs, loadConfig } from '../../relay/src/config.ts';
import { servableBootFiles } from '../../relay/src/dhcp/boot-target.ts';
import { LanUnavailableError, resolveLans } from '../../relay/src/lan/lans.ts';
import { toCliError } from '../../relay/src/cli/commands.ts';
import { MetricsRegistry } from '../../relay/src/http/metrics.ts';
import { saveCredentials } from '../../relay/src/sync/credentials.ts';
import { REPO_ROOT } from '../support/spawned-entry.ts';
import { freePort, get, tempDir, until } from './support/relay-harness.ts';
import { createSite, enrolledCredentials, startTestCloud, type TestCloud } from './support/test-cloud.ts';

function configFile(text: string): string {
  const f = join(tempDir('config'), 'relay.toml');
  writeFileSync(f, text);
  return f;
}

describe('relay.toml', () => {
  it('reads the file, applies defaults, and lets flags override it', () => {
    const f = configFile('state_dir = "state"\nmode = "dhcp"\n[http]\nport = 8080\npublic_url = "http://10.1.2.3:8080"\n[cache]\nmax_bytes = "2GiB"\n[dhcp]\nrange = ["10.1.2.100", "10.1.2.150"]\n');
    const c = loadConfig(f, { 'http-port': '9090', 'cache-max-bytes': '512MiB' });
    expect(c.mode).toBe('dhcp');
    expect(c.http).toEqual({ listen: '0.0.0.0', port: 9090, public_url: 'http://10.1.2.3:8080' });
    expect(c.cache.max_bytes).toBe(512 * 1024 * 1024);
    expect(c.cache.memory_bytes).toBe(512 * 1024 * 1024);
    expect(c.state_dir).toBe(join(f, '..', 'state'));
    expect(c.cache.dir).toBe(join(f, '..', 'state', 'cache'));
    expect(c.chaining).toBe('via-relay');
  });

  it('lists every problem at once, by key', () => {
    const f = configFile('mode = "relay"\nbogus = 1\n[http]\nport = 70000\npublic_url = "http://10.1.2.3:8080/path"\n[cache]\nmax_bytes = "lots"\n');
    let err: unknown;
    try {
      loadConfig(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain(`invalid relay configuration in ${f}`);
    for (const key of ['mode:', 'http.port:', 'http.public_url:', 'cache.max_bytes:', 'bogus']) expect(msg).toContain(key);
  });

  it('says where TOML syntax is broken, and when the file is missing', () => {
    expect(() => loadConfig(configFile('[http\nport = 1\n'))).toThrow(/is not valid TOML/);
    expect(() => loadConfig('/nonexistent/relay.toml')).toThrow(/cannot read the config file \/nonexistent\/relay.toml/);
  });
});

describe('metrics registry', () => {
  it('renders counters with labels and gauges in the Prometheus text format', () => {
    const m = new MetricsRegistry();
    const drops = m.counter('edgeboot_relay_dhcp_drops_total', 'DHCP packets dropped by reason');
    drops.inc({ reason: 'truncated' });
    drops.inc({ reason: 'truncated' });
    drops.inc({ reason: 'bad "quote"' }, 3);
    m.gauge('edgeboot_relay_sync_age_seconds', 'age', () => 1.5);
    expect(m.counter('edgeboot_relay_dhcp_drops_total', 'again')).toBeDefined(); // the same family
    expect(m.render()).toBe(
      [
        '# HELP edgeboot_relay_dhcp_drops_total DHCP packets dropped by reason',
        '# TYPE edgeboot_relay_dhcp_drops_total counter',
        'edgeboot_relay_dhcp_drops_total{reason="truncated"} 2',
        'edgeboot_relay_dhcp_drops_total{reason="bad \\"quote\\""} 3',
        '# HELP edgeboot_relay_sync_age_seconds age',
        '# TYPE edgeboot_relay_sync_age_seconds gauge',
        'edgeboot_relay_sync_age_seconds 1.5',
        '',
      ].join('\n'),
    );
    expect(() => m.gauge('edgeboot_relay_dhcp_drops_total', 'x', () => 1)).toThrow(/already registered as a counter/);
    expect(() => m.counter('bad-name', 'x')).toThrow(/not a Prometheus name/);
  });
});

describe('edgeboot-relay run', () => {
  let cloud: TestCloud;
  beforeAll(async () => {
    cloud = await startTestCloud();
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('serves /healthz and /metrics from the config, and stops cleanly on SIGTERM', async () => {
    const creds = await enrolledCredentials(cloud, await createSite(cloud));
    const stateDir = tempDir('run');
    saveCredentials(stateDir, creds);
    const port = await freePort();
    const f = configFile(`state_dir = "${stateDir}"\n[http]\nlisten = "127.0.0.1"\nport = 1\npublic_url = "http://127.0.0.1:${port}"\n`);
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'relay/src/main.ts'), 'run', '--config', f, '--http-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until('relay running', () => out.includes('"relay running"'), 15_000);
      const health = await until('a snapshot', async () => {
        const h = JSON.parse((await get(`http://127.0.0.1:${port}/healthz`)).body.toString());
        return h.ok ? h : null;
      });
      expect(health).toMatchObject({ ok: true, relayId: creds.relayId, cloudReachable: true });
      const metrics = (await get(`http://127.0.0.1:${port}/metrics`)).body.toString();
      for (const name of ['edgeboot_relay_sync_age_seconds', 'edgeboot_relay_event_queue_depth 0', 'edgeboot_relay_cache_hits_total 0', 'edgeboot_relay_cache_misses_total 0', 'edgeboot_relay_snapshots_installed{how="delta"} 0', 'edgeboot_relay_sync_full_refetches 0']) {
        expect(metrics).toContain(name);
      }
      for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow(); // one JSON object per line
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('"stopping"');
  });

  it('exits with a clear message and EX_CONFIG (78: systemd does not retry) when the relay was never enrolled', async () => {
    const f = configFile(`state_dir = "${tempDir('run')}"\n[http]\npublic_url = "http://127.0.0.1:8080"\n`);
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'relay/src/main.ts'), 'run', '--config', f], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(78);
    expect(err).toMatch(/^edgeboot-relay: no credentials in .*: run `edgeboot-relay enroll/);
  });
});

describe('relay.toml: LANs and boot files, validated before anything starts', () => {
  const base = '[http]\npublic_url = "http://10.1.2.3:8080"\n';
  const problems = (text: string) => {
    try {
      loadConfig(configFile(text));
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('the configuration was accepted');
  };

  it('reads a list of LANs: interfaces and segments behind relay agents, each with its own mode', () => {
    const c = loadConfig(configFile(`${base}[[lan]]\ninterface = "eth1"\nmode = "dhcp"\nrange = ["10.9.0.100", "10.9.0.150"]\n[[lan]]\nrelayed = "10.20.0.0/24"\n`));
    expect(lanSpecs(c).map((l) => [l.name, l.mode, l.public_url])).toEqual([
      ['eth1', 'dhcp', null],
      ['relayed:10.20.0.0/24', 'proxy', 'http://10.1.2.3:8080'],
    ]);
    expect(lanSpecs(c)[1]!.subnet).toBe('10.20.0.0/24');
  });

  it('lists every LAN problem at once', () => {
    const msg = problems(
      `interface = "eth0"\n${base}[dhcp]\nrange = ["10.0.0.1", "10.0.0.9"]\n` +
        '[[lan]]\ninterface = "eth1"\nrelayed = "10.9.0.0/24"\n' +
        '[[lan]]\ninterface = "eth2"\nmode = "dhcp"\n' +
        '[[lan]]\ninterface = "eth2"\nrange = ["10.5.0.1", "10.5.0.9"]\n' +
        '[[lan]]\nrelayed = "10.7.0.0/24"\nmode = "dhcp"\nrange = ["10.7.0.200", "10.8.0.1"]\n',
    );
    for (const want of [
      'interface: with [[lan]] entries',
      'dhcp.range: with [[lan]] entries',
      'lan.0: name exactly one of interface',
      'lan.1.range: range = ["first", "last"] is required',
      'lan.2: eth2 is served twice',
      'lan.2.range: range is a full DHCP mode key',
      'lan.3.range: 10.8.0.1 is outside 10.7.0.0/24',
    ]) expect(msg).toContain(want);
  });

  it('refuses [dhcp] and [tftp] keys it does not know, and boot file names TFTP would refuse, with the rest', () => {
    const msg = problems(`${base}[dhcp]\nrecv_bufer = 1\n[dhcp.binaries]\nbios = "../etc/passwd"\n[tftp]\nmax_blksize = 10\n`);
    for (const want of ['dhcp: Unrecognized key: "recv_bufer"', 'dhcp.binaries.bios:', 'tftp.max_blksize:']) expect(msg).toContain(want);
  });

  it('finds each LAN on this box, and says at once which interfaces are missing and which networks clash', () => {
    const nics = {
      eth1: [{ address: '10.9.0.2', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '', internal: false, cidr: '10.9.0.2/24' }],
      eth2: [{ address: '10.9.0.3', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '', internal: false, cidr: '10.9.0.3/24' }],
    };
    const c = loadConfig(configFile(`${base}[[lan]]\ninterface = "eth1"\n[[lan]]\ninterface = "eth2"\n[[lan]]\ninterface = "eth9"\n`));
    expect(() => resolveLans(c, nics)).toThrow(/eth1 and eth2 are the same network[\s\S]*no interface eth9 on this box/);
    // An interface that is only missing is not a mistake in the file: the relay is started again (EX_TEMPFAIL).
    const later = loadConfig(configFile(`${base}[[lan]]\ninterface = "eth1"\n[[lan]]\ninterface = "eth9"\n`));
    expect(() => resolveLans(later, nics)).toThrow(LanUnavailableError);
    expect(toCliError(new LanUnavailableError('x')).status).toBe(75);
    const one = loadConfig(configFile(`${base}[[lan]]\ninterface = "eth1"\n`));
    expect(resolveLans(one, nics).map((l) => [l.serverIp, l.publicUrl])).toEqual([['10.9.0.2', 'http://10.1.2.3:8080']]);
  });

  it('offers no boot file that TFTP cannot send: a configured one is an error, a missing default is not offered', () => {
    const have = new Set(['undionly.kpxe', 'ipxe.efi']);
    const ok = servableBootFiles({}, (n) => have.has(n));
    expect(ok.problems).toEqual([]);
    expect(ok.dropped).toEqual(['ipxe-arm64.efi']);
    expect(ok.files.uefiArm64).toBeNull();
    const bad = servableBootFiles({ uefi_x64: 'snp.efi' }, (n) => have.has(n));
    expect(bad.problems).toEqual(['[dhcp.binaries] uefi_x64 = "snp.efi" is not in boot_files: DHCP would offer a file TFTP cannot send']);
  });
});
