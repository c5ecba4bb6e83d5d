/**
 * Benchmark (not a test): power-job latency — from the `edgeboot` CLI call (and from the API call) to
 * the moment the relay starts the BMC command — with the relay idle, its long-poll parked on the
 * cloud. References in the same run: the CLI's own start-up (`edgeboot machines show`, a plain read)
 * and one bare `ipmitool chassis power status` against the same BMC.
 *
 *   node_modules/.bin/node test/bench/power-jobs.ts [--cli-runs 30 --api-runs 100]
 *
 * Peers: the cloud's Node entry (child process, SQLite), the relay in this process, OpenIPMI's ipmi_sim
 * in a network namespace (no VM behind it: only the command's arrival is timed). Needs root, ipmi_sim,
 * ipmitool. Loopback and namespace addresses only; everything started here is stopped here.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ipmitoolDriver } from '../../relay/src/bmc/ipmitool.ts';
import type { BmcDriver } from '../../relay/src/bmc/driver.ts';
import { loadConfig } from '../../relay/src/config.ts';
import { createLogger } from '../../relay/src/log.ts';
import { startRelay } from '../../relay/src/main.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { makeCli, startCloud } from '../cli/support.ts';
import { freePort, tempDir } from '../relay/support/relay-harness.ts';
import { createTestbed, requireTools } from '../support/netns.ts';
import { startIpmiSim } from '../bmc/support/ipmi-sim.ts';

const { values } = parseArgs({ options: { 'cli-runs': { type: 'string', default: '30' }, 'api-runs': { type: 'string', default: '100' } } });
requireTools(['ipmi_sim', 'ipmitool']);

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
  const relay = await startRelay(
    loadConfig(null, { 'state-dir': relayDir, 'http-listen': '127.0.0.1', 'http-port': String(port), 'public-url': `http://127.0.0.1:${port}` }),
    { cloudUrl: cloud.baseUrl, relayId: e.relay.id, siteId, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() },
    {
      log: createLogger({ component: 'relay', write: () => undefined }),
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
  const cliStart: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await cli.run(['machines', 'show', m.id]);
    cliStart.push(performance.now() - t);
  }

  const fromApi: number[] = [];
  for (let i = 0; i < Number(values['api-runs']); i++) {
    await settle();
    const n = marks.length;
    const t = performance.now();
    const job = (await call(cloud, 'POST', `/v1/machines/${m.id}/power`, { json: { action: 'status' } })).body;
    while (marks.length === n) await new Promise((res) => setTimeout(res, 2));
    fromApi.push(marks[n]! - t);
    while ((await call(cloud, 'GET', `/v1/power-jobs/${job.id}`)).body.state === 'running') await new Promise((res) => setTimeout(res, 20));
  }
  const fromCli: number[] = [];
  for (let i = 0; i < Number(values['cli-runs']); i++) {
    await settle();
    const n = marks.length;
    const t = performance.now();
    const r = await cli.run(['machines', 'power', m.id, 'status']);
    if (r.code !== 0) throw new Error(r.stderr);
    fromCli.push(marks[n]! - t);
  }
  console.log('power-job latency to the BMC command, relay idle (its long-poll parked on the cloud):');
  console.log(`  from the CLI call (edgeboot machines power M status)  ${fmt(fromCli)}`);
  console.log(`  from the API call (POST /v1/machines/M/power)        ${fmt(fromApi)}`);
  console.log('references:');
  console.log(`  CLI start-up + one read (edgeboot machines show M)    ${fmt(cliStart)}`);
  console.log(`  bare ipmitool chassis power status (whole command)    ${fmt(bare)}`);
  await relay.close();
} finally {
  await bed.cleanup();
  await cloud.stop();
  cli.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
