/**
 * Benchmark (not a test): power-job latency — from the `edgeboot` CLI call (and from the API call) to
 * the moment the relay starts the BMC command — with the relay idle, its long-poll parked on the
 * cloud, and then while the same relay answers a boot storm. References in the same run: the CLI's own
 * start-up (`edgeboot machines show`, a plain read) and one bare `ipmitool chassis power status`
 * against the same BMC.
 *
 *   node_modules/.bin/node test/bench/power-jobs.ts [--cli-runs 30 --api-runs 100 --storm-rate 3000 --storm-seconds 90 --no-storm]
 *
 * Peers: the cloud's Node entry (child process, SQLite), the relay in this process, OpenIPMI's ipmi_sim
 * in a network namespace (no VM behind it: only the command's arrival is timed).
 *
 * The storm: the relay runs its proxyDHCP server (the DHCP service of a real relay, mode proxy) on the
 * root end of a veth pair whose other end is in a client namespace, where perfdhcp (Debian kea-admin)
 * sends PXE DISCOVERs (option 60 PXEClient, 93 = 7, 97) from 10,000 MACs at --storm-rate per second,
 * pinned to CPU 0, as test/bench/dhcp.ts does. The site's default profile is an iPXE script, so every
 * unknown MAC is answered with an OFFER and reported to the cloud (dhcp events): the relay and the cloud
 * both carry the storm. While perfdhcp runs, an API sample, a CLI sample and a CLI start-up reference
 * (`machines show`, the same CPU contention without a job) take turns until it ends; its own
 * figures (OFFERs answered, drops) are printed beside them so a storm the relay did not keep up with is
 * visible. Needs root, ipmi_sim, ipmitool, perfdhcp, taskset. Addresses: loopback, 10.97.0.0/16 on the
 * veth pair (gone with the client namespace); everything started here is stopped here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ipmitoolDriver } from '../../relay/src/bmc/ipmitool.ts';
import { AddressBook } from '../../relay/src/dhcp/address-book.ts';
import { dhcpService } from '../../relay/src/dhcp/service.ts';
import type { BmcDriver } from '../../relay/src/bmc/driver.ts';
import { loadConfig } from '../../relay/src/config.ts';
import { createLogger } from '../../relay/src/log.ts';
import { startRelay } from '../../relay/src/main.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { makeCli, startCloud } from '../cli/support.ts';
import { freePort, tempDir } from '../relay/support/relay-harness.ts';
import { createTestbed, requireTools } from '../support/netns.ts';
import { startIpmiSim } from '../bmc/support/ipmi-sim.ts';
import { perfdhcp, type PerfdhcpResult } from './lib/perfdhcp.ts';

const { values } = parseArgs({
  options: {
    'cli-runs': { type: 'string', default: '30' },
    'api-runs': { type: 'string', default: '100' },
    storm: { type: 'boolean', default: true },
    'storm-rate': { type: 'string', default: '3000' },
    'storm-seconds': { type: 'string', default: '90' },
  },
  allowNegative: true,
});
const STORM = values.storm!;
requireTools(['ipmi_sim', 'ipmitool', ...(STORM ? ['perfdhcp', 'taskset'] : [])]);

/** What a PXE ROM on x86-64 UEFI sends, as perfdhcp `-o code,hex` options (test/bench/dhcp.ts). */
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const PXE_OPTIONS = ['-o', `60,${hex('PXEClient:Arch:00007:UNDI:003016')}`, '-o', '93,0007', '-o', '97,000f8d2c4e5a6b4d7c8e9fa1b2c3d4e5f6'];
/** The veth pair of the storm: the relay's end stays in this (root) namespace, perfdhcp's end is eth0 of the client namespace. */
const STORM_IF = `ebpj${process.pid % 100_000}`;
const RELAY_LAN_IP = '10.97.0.1';
const CLIENT_IP = '10.97.0.2';
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms  p99 ${pct(xs, 99).toFixed(0)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n ${xs.length})`;

const bed = await createTestbed('benchpwr');
const dirs: string[] = [];
const cloud = await startCloud('benchpower');
const cli = await makeCli(cloud);
try {
  const ns = await bed.namespace('bmc');
  const simDir = tempDir('bench-ipmisim');
  dirs.push(simDir);
  const sim = await startIpmiSim(bed, { dir: simDir, ns, host: '127.0.0.1', port: 9623, qemuArgs: ['-machine', 'none'] });
  const siteId = (await call(cloud, 'POST', '/v1/sites', { json: { name: unique('bench') } })).body.id;
  const code = (await call(cloud, 'POST', `/v1/sites/${siteId}/enrollment-codes`, { json: {} })).body.code;
  const e = (await call(cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: 'bench-relay' } })).body;
  const relayDir = tempDir('bench-relay');
  dirs.push(relayDir);
  const port = await freePort();
  const marks: number[] = [];
  const command = ['ip', 'netns', 'exec', ns, 'ipmitool'];
  let clientNs: string | null = null;
  if (STORM) {
    clientNs = await bed.namespace('dhcpcli');
    sh('ip', ['link', 'add', STORM_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    sh('ip', ['addr', 'add', `${RELAY_LAN_IP}/16`, 'dev', STORM_IF]);
    sh('ip', ['link', 'set', STORM_IF, 'up']);
    sh('ip', ['-n', clientNs, 'addr', 'add', `${CLIENT_IP}/16`, 'dev', 'eth0']);
    sh('ip', ['-n', clientNs, 'link', 'set', 'eth0', 'up']);
    // Unknown machines of the site netboot (an iPXE script), so every DISCOVER of the storm gets an OFFER and an event.
    const profile = (await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('bench-storm'), spec: { kind: 'ipxe', script: '#!ipxe\nexit' } } })).body;
    const patched = await call(cloud, 'PATCH', `/v1/sites/${siteId}`, { json: { defaultProfileId: profile.id } });
    if (patched.status !== 200) throw new Error(`site default profile: ${patched.text}`);
  }
  const relay = await startRelay(
    loadConfig(null, {
      'state-dir': relayDir,
      'http-listen': '127.0.0.1',
      'http-port': String(port),
      'public-url': `http://127.0.0.1:${port}`,
      ...(STORM ? { interface: STORM_IF, mode: 'proxy' } : {}),
    }),
    { cloudUrl: cloud.baseUrl, relayId: e.relay.id, siteId, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() },
    {
      log: createLogger({ component: 'relay', write: () => undefined }),
      // The relay's own DHCP service, idle until the storm (also during the idle figures, so both runs have it).
      ...(STORM ? { lanServices: [dhcpService({ addresses: new AddressBook() })] } : {}),
      powerJobs: {
        driverFor: (_p, t): BmcDriver => {
          const d = ipmitoolDriver(t, { command });
          return { ...d, powerState: () => (marks.push(performance.now()), d.powerState()) };
        },
      },
    },
  );
  const m = (await call(cloud, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId } })).body;
  for (let i = 0; ; i++) {
    const r = await cli.run(['machines', 'bmc', 'set', m.id, '--ipmi', sim.address, '--user', sim.username, '--password-stdin'], { input: sim.password });
    if (r.code === 0) break;
    if (i > 50) throw new Error(`bmc set: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const settle = () => new Promise((res) => setTimeout(res, 300)); // the relay back on its long-poll

  const bare: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await new Promise((res) => spawn(command[0]!, [...command.slice(1), '-I', 'lanplus', '-H', '127.0.0.1', '-p', '9623', '-U', sim.username, '-E', '-C', '3', 'chassis', 'power', 'status'], { env: { ...process.env, IPMI_PASSWORD: sim.password }, stdio: 'ignore' }).on('close', res));
    bare.push(performance.now() - t);
  }
  /** The CLI's start-up and one read: what the CLI figure costs before any job exists. */
  const startSample = async (into: number[]) => {
    const t = performance.now();
    await cli.run(['machines', 'show', m.id]);
    into.push(performance.now() - t);
  };
  const cliStart: number[] = [];
  for (let i = 0; i < 10; i++) await startSample(cliStart);

  /** One job from the API call to the BMC command; waits for the job to end so the next starts clean. */
  const apiSample = async (into: number[]) => {
    await settle();
    const n = marks.length;
    const t = performance.now();
    const job = (await call(cloud, 'POST', `/v1/machines/${m.id}/power`, { json: { action: 'status' } })).body;
    while (marks.length === n) await new Promise((res) => setTimeout(res, 2));
    into.push(marks[n]! - t);
    while ((await call(cloud, 'GET', `/v1/power-jobs/${job.id}`)).body.state === 'running') await new Promise((res) => setTimeout(res, 20));
  };
  /** One `edgeboot machines power M status`, from the process start to the BMC command (the CLI waits for the result). */
  const cliSample = async (into: number[]) => {
    await settle();
    const n = marks.length;
    const t = performance.now();
    const r = await cli.run(['machines', 'power', m.id, 'status']);
    if (r.code !== 0) throw new Error(r.stderr);
    into.push(marks[n]! - t);
  };

  const fromApi: number[] = [];
  for (let i = 0; i < Number(values['api-runs']); i++) await apiSample(fromApi);
  const fromCli: number[] = [];
  for (let i = 0; i < Number(values['cli-runs']); i++) await cliSample(fromCli);
  console.log('power-job latency to the BMC command, relay idle (its long-poll parked on the cloud):');
  console.log(`  from the CLI call (edgeboot machines power M status)  ${fmt(fromCli)}`);
  console.log(`  from the API call (POST /v1/machines/M/power)        ${fmt(fromApi)}`);

  if (STORM) {
    const rate = Number(values['storm-rate']);
    const seconds = Number(values['storm-seconds']);
    const storm = (args: string[], timeoutMs: number): Promise<PerfdhcpResult> =>
      perfdhcp({ ns: clientNs!, local: CLIENT_IP, server: RELAY_LAN_IP, args: ['-i', ...PXE_OPTIONS, ...args], timeoutMs, cpu: 0 });
    // The relay answers once its snapshot carries the site's default profile: probe until OFFERs come back.
    for (let i = 0; ; i++) {
      const probe = await storm(['-R', '100', '-r', '50', '-p', '1', '-W', '500000'], 15_000);
      if ((probe.exchanges['DISCOVER-OFFER']?.received ?? 0) > 0) break;
      if (i > 20) throw new Error(`the relay answers no PXE DISCOVER on ${STORM_IF}:\n${probe.text.slice(-1500)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const stormApi: number[] = [];
    const stormCli: number[] = [];
    const stormStart: number[] = [];
    let running = true;
    const load = storm(['-R', '10000', '-r', String(rate), '-p', String(seconds), '-W', '1000000'], (seconds + 30) * 1000).finally(() => (running = false));
    await new Promise((res) => setTimeout(res, 2000)); // the storm at full rate before the first sample
    while (running) {
      await apiSample(stormApi);
      if (running) await cliSample(stormCli);
      if (running) await startSample(stormStart);
    }
    const perf = await load;
    const ex = perf.exchanges['DISCOVER-OFFER'];
    console.log(`power-job latency to the BMC command, relay answering a PXE boot storm (perfdhcp ${rate}/s for ${seconds} s, 10,000 MACs):`);
    console.log(`  from the CLI call (edgeboot machines power M status)  ${fmt(stormCli)}`);
    console.log(`  from the API call (POST /v1/machines/M/power)        ${fmt(stormApi)}`);
    console.log(`  reference: CLI start-up + one read, same storm       ${fmt(stormStart)}`);
    console.log(
      `  the storm: ${ex ? `${ex.sent.toLocaleString('en-US')} DISCOVERs sent, ${ex.received.toLocaleString('en-US')} OFFERs (${(ex.received / seconds).toFixed(0)}/s), ${ex.drops.toLocaleString('en-US')} unanswered within 1 s, OFFER delay avg ${ex.avgMs?.toFixed(2)} ms max ${ex.maxMs?.toFixed(0)} ms` : perf.text.slice(-800)}`,
    );
  }
  console.log('references:');
  console.log(`  CLI start-up + one read (edgeboot machines show M)    ${fmt(cliStart)}`);
  console.log(`  bare ipmitool chassis power status (whole command)    ${fmt(bare)}`);
  await relay.close();
} finally {
  // Deleting the client namespace takes the veth pair with it; this is for a run that failed before.
  if (STORM) spawnSync('ip', ['link', 'del', STORM_IF], { stdio: 'ignore' });
  await bed.cleanup();
  await cloud.stop();
  cli.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
