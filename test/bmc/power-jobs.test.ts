/**
 * Power jobs from the CLI to the BMC and back: the `edgeboot` CLI (a child process) against the cloud's
 * Node entry (a child process), the relay in this process running its power-job runner, and OpenIPMI's
 * ipmi_sim with a qemu VM behind it in a network namespace (the relay's ipmitool enters it with
 * `ip netns exec`). Checks results, reasons, the timeline, the audit log, the relay's concurrency bound,
 * deadlines, and that the BMC password appears in no log, event or stored row.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRelayKeyPair, sealSecret } from '../../shared/crypto/seal.ts';
import { ipmitoolDriver } from '../../relay/src/bmc/ipmitool.ts';
import { loadConfig } from '../../relay/src/config.ts';
import { createLogger } from '../../relay/src/log.ts';
import { startRelay, type Relay } from '../../relay/src/main.ts';
import { createToken } from '../contract/fixtures.ts';
import { call, randomMac, unique } from '../contract/target.ts';
import { makeCli, startCloud, type Cli } from '../cli/support.ts';
import { freePort, tempDir, until } from '../relay/support/relay-harness.ts';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { startIpmiSim, type IpmiSim } from './support/ipmi-sim.ts';

const MAX_CONCURRENT = 3;

describe('power jobs: CLI → cloud → relay → ipmitool → ipmi_sim → qemu', () => {
  let bed: Testbed;
  let ns: string;
  let cloud: SpawnedEntry;
  let cli: Cli;
  let relay: Relay;
  let relayLogs: string[];
  let relayDir: string;
  let sim: IpmiSim;
  let siteId: string;
  let siteName: string;
  const dirs: string[] = [];

  const machine = async (site = siteId): Promise<{ id: string; mac: string }> => (await call(cloud, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site } })).body;
  const stagesOf = async (id: string): Promise<any[]> => (await call(cloud, 'GET', `/v1/machines/${id}/timeline`)).body.boots.flatMap((b: any) => b.stages);
  const bmcSet = (id: string, address: string, password: string) => cli.run(['machines', 'bmc', 'set', id, '--ipmi', address, '--user', sim.username, '--password-stdin'], { input: `${password}\n` });

  beforeAll(async () => {
    requireTools(['ipmi_sim', 'ipmitool', 'qemu-system-x86_64']);
    bed = await createTestbed('power');
    ns = await bed.namespace('bmc');
    const simDir = tempDir('ipmisim');
    dirs.push(simDir);
    sim = await startIpmiSim(bed, { dir: simDir, ns, host: '127.0.0.1', port: 9623, qemuArgs: ['-machine', 'pc,accel=tcg', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot'] });
    cloud = await startCloud('power');
    cli = await makeCli(cloud);
    siteName = unique('power-site');
    siteId = (await call(cloud, 'POST', '/v1/sites', { json: { name: siteName } })).body.id;
    const code = (await call(cloud, 'POST', `/v1/sites/${siteId}/enrollment-codes`, { json: {} })).body.code;
    const e = (await call(cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('relay') } })).body;
    relayDir = tempDir('relay');
    dirs.push(relayDir);
    const port = await freePort();
    const config = loadConfig(null, { 'state-dir': relayDir, 'http-listen': '127.0.0.1', 'http-port': String(port), 'public-url': `http://127.0.0.1:${port}` });
    relayLogs = [];
    relay = await startRelay(
      config,
      { cloudUrl: cloud.baseUrl, relayId: e.relay.id, siteId, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() },
      {
        log: createLogger({ component: 'relay', write: (l) => void relayLogs.push(l) }),
        powerJobs: {
          maxConcurrent: MAX_CONCURRENT,
          driverFor: (_p, target) => ipmitoolDriver(target, { command: ['ip', 'netns', 'exec', ns, 'ipmitool'], tryTimeoutS: 1, retries: 1, hardTimeoutMs: 20_000 }),
        },
      },
    );
    // The relay registers its sealing key at start.
    await until('the relay key', async () => (await call(cloud, 'GET', `/v1/relays/${e.relay.id}`)).status === 200 && (await call(cloud, 'GET', `/v1/machines/${(await machine()).id}/bmc/recipients`)).body.relays.length === 1, 15_000);
  });

  afterAll(async () => {
    await relay?.close();
    const pid = sim?.vmPid();
    if (pid) process.kill(pid, 'SIGKILL');
    await bed?.cleanup();
    await cloud?.stop();
    cli?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('switches the VM on and off from the CLI, and the timeline and audit log show each job', async () => {
    const m = await machine();
    const set = await bmcSet(m.id, sim.address, sim.password);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('password sealed to 1 relay(s)');

    const on = await cli.run(['--json', 'machines', 'power', m.mac, 'on'], { timeoutMs: 60_000 });
    expect(on.code, on.stderr).toBe(0);
    expect(on.json()).toMatchObject({ action: 'on', state: 'succeeded', powerState: 'on', relayId: relay.context.credentials.relayId, error: null });
    await until('the VM runs', () => sim.vmPid(), 20_000);

    const status = await cli.run(['machines', 'power', m.mac, 'status'], { timeoutMs: 60_000 });
    expect(status.stdout).toMatch(/status succeeded, power on \(\d+ ms\)/);

    const off = await cli.run(['--json', 'machines', 'power', m.mac, 'off'], { timeoutMs: 60_000 });
    expect(off.json()).toMatchObject({ action: 'off', state: 'succeeded' });
    await until('the VM stops', () => sim.vmPid() === null, 30_000);

    const stages = await stagesOf(m.id);
    expect(stages.map((s) => [s.stage, s.detail.action, s.detail.result])).toEqual([
      ['power-job', 'on', 'succeeded'],
      ['power-job', 'status', 'succeeded'],
      ['power-job', 'off', 'succeeded'],
    ]);
    for (const s of stages) expect(s.durationMs).toBeGreaterThan(0);
    const audit = (await call(cloud, 'GET', `/v1/audit?siteId=${siteId}&limit=200`)).body.items.map((a: any) => a.action);
    expect(audit).toEqual(expect.arrayContaining(['power-job on succeeded', 'power-job status succeeded', 'power-job off succeeded']));
  });

  it('reports a wrong BMC password with its reason in the timeline and a failing exit status', async () => {
    const m = await machine();
    await bmcSet(m.id, sim.address, 'wrong-password-Zq9');
    const r = await cli.run(['machines', 'power', m.mac, 'status'], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refused the user name or password`);
    const [s] = await stagesOf(m.id);
    expect(s).toMatchObject({ stage: 'power-job', detail: { result: 'failed', reason: 'auth', error: `the BMC at ${sim.address} refused the user name or password (RMCP+ RAKP)` } });
  });

  it("reports a credential sealed to another relay's key as unopenable, without touching the BMC", async () => {
    const m = await machine();
    const foreign = await generateRelayKeyPair();
    const sealed = await sealSecret(sim.password, foreign.publicKey, { machineId: m.id, relayId: relay.context.credentials.relayId });
    const put = await call(cloud, 'PUT', `/v1/machines/${m.id}/bmc`, { json: { protocol: 'ipmi', address: sim.address, username: sim.username, credentials: [{ relayId: relay.context.credentials.relayId, sealed }] } });
    expect(put.status).toBe(200);
    const r = await cli.run(['--json', 'machines', 'power', m.id, 'on'], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.json().error).toMatch(/^cannot open the BMC credential: the credential was not sealed to this relay for this machine/);
    expect(sim.vmPid()).toBeNull();
  });

  it(`runs a flood of jobs at most ${MAX_CONCURRENT} at once on the relay, each reported`, async () => {
    // A BMC that never answers holds each job for its whole bound.
    const hang = bed.spawn(ns, 'python3', ['-c', "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',9710))\nwhile True: s.recvfrom(4096)"]);
    try {
      const ms = await Promise.all(Array.from({ length: 9 }, () => machine()));
      for (const m of ms) expect((await bmcSet(m.id, '127.0.0.1:9710', 'pw')).code).toBe(0);
      const before = relay.powerJobs.done;
      const jobs = await Promise.all(ms.map(async (m) => (await call(cloud, 'POST', `/v1/machines/${m.id}/power`, { json: { action: 'status' } })).body.id as string));
      const finals = await until('all jobs finished', async () => {
        const js = await Promise.all(jobs.map(async (id) => (await call(cloud, 'GET', `/v1/power-jobs/${id}`)).body));
        return js.every((j) => j.state === 'failed') ? js : null;
      }, 120_000);
      expect(relay.powerJobs.done - before).toBe(9);
      expect(relay.powerJobs.peak).toBe(MAX_CONCURRENT);
      for (const j of finals) expect(j.error).toBe('no valid IPMI answer from 127.0.0.1:9710 (unreachable, not an IPMI 2.0 BMC, or answering garbage)');
    } finally {
      await hang.kill();
    }
  });

  it("expires a job no relay takes before its deadline, and says why", async () => {
    // A second site whose relay enrolled and registered a key, but is not running.
    const other = (await call(cloud, 'POST', '/v1/sites', { json: { name: unique('offline-site') } })).body.id;
    const code = (await call(cloud, 'POST', `/v1/sites/${other}/enrollment-codes`, { json: {} })).body.code;
    const e = (await call(cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('relay') } })).body;
    await call(cloud, 'PUT', '/v1/relay/seal-key', { token: e.token, json: { publicKey: (await generateRelayKeyPair()).publicKey } });
    const m = await machine(other);
    expect((await bmcSet(m.id, '127.0.0.1:623', 'pw')).code).toBe(0);
    const r = await cli.run(['machines', 'power', m.id, 'cycle', '--deadline', '5'], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no relay of the site took the job before its deadline (5 s): the site's relay is offline or has no free slot");
    const [s] = await stagesOf(m.id);
    expect(s).toMatchObject({ stage: 'power-job', source: 'cloud', detail: { action: 'cycle', result: 'expired' } });
  });

  it("refuses a power job on another site's machine to that site's outsiders", async () => {
    const other = (await call(cloud, 'POST', '/v1/sites', { json: { name: unique('other-site') } })).body.id;
    const m = await machine(other);
    const op = await createToken(cloud, { role: 'operator', siteIds: [siteId] });
    const r = await cli.run(['machines', 'power', m.id, 'on'], { env: { EDGEBOOT_TOKEN: op.token } });
    expect(r.code).toBe(3);
    expect((await call(cloud, 'GET', `/v1/machines/${m.id}/power-jobs`)).body.items).toEqual([]);
  });

  it('leaves the BMC passwords in no log, event or stored file', async () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(cloud.dataDir);
    walk(relayDir);
    const everything = [cloud.output(), relayLogs.join('\n'), ...files.map((f) => readFileSync(f).toString('latin1'))].join('\n');
    expect(everything).toContain('power job done'); // the logs are there to search
    for (const secret of [sim.password, 'wrong-password-Zq9']) expect(everything).not.toContain(secret);
  });
});
