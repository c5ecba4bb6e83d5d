/**
 * IPMI v2.0 over LAN for real: the relay's ipmitool driver and job execution against OpenIPMI's
 * `ipmi_sim` with a qemu VM behind it (test/bmc/support/ipmi-sim.ts), all inside a network namespace.
 * A power-on must start the VM's qemu process and a power-off must stop it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRelayKeyPair, sealSecret, type RelayKeyPair } from '../../shared/crypto/seal.ts';
import type { RelayPowerJob } from '../../shared/schemas/bmc.ts';
import { ipmitoolDriver } from '../../relay/src/bmc/ipmitool.ts';
import { executeJob } from '../../relay/src/jobs/execute.ts';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import { until } from '../relay/support/relay-harness.ts';
import { startIpmiSim, type IpmiSim } from './support/ipmi-sim.ts';

const HOST = '127.0.0.1';
const RELAY_ID = 'rly_ipmitest';

describe('IPMI over LAN against ipmi_sim driving a qemu VM', () => {
  let bed: Testbed;
  let ns: string;
  let dir: string;
  let sim: IpmiSim;
  let keys: RelayKeyPair;
  const command = () => ['ip', 'netns', 'exec', ns, 'ipmitool'];
  const driver = (password = sim.password, address = sim.address) => ipmitoolDriver({ address, username: sim.username, password }, { command: command(), tryTimeoutS: 1, retries: 1, hardTimeoutMs: 20_000 });

  async function job(action: RelayPowerJob['action'], over: { password?: string; address?: string; machineId?: string } = {}): Promise<ReturnType<typeof executeJob>> {
    const machineId = 'mch_ipmitest';
    const sealed = await sealSecret(over.password ?? sim.password, keys.publicKey, { machineId: over.machineId ?? machineId, relayId: RELAY_ID });
    const j: RelayPowerJob = {
      id: 'pjob_test',
      machineId,
      mac: '52:54:00:00:00:01',
      action,
      deadlineAt: new Date(Date.now() + 60_000).toISOString(),
      bmc: { protocol: 'ipmi', address: over.address ?? sim.address, username: sim.username, systemId: null, tlsFingerprint: null, sealed },
    };
    return executeJob(j, { keys, relayId: RELAY_ID, driverFor: (_p, target) => ipmitoolDriver(target, { command: command(), tryTimeoutS: 1, retries: 1, hardTimeoutMs: 20_000 }) });
  }

  beforeAll(async () => {
    requireTools(['ipmi_sim', 'ipmitool', 'qemu-system-x86_64']);
    bed = await createTestbed('ipmi');
    ns = await bed.namespace('bmc');
    dir = mkdtempSync(join(tmpdir(), 'edgeboot-ipmi-'));
    keys = await generateRelayKeyPair();
    sim = await startIpmiSim(bed, { dir, ns, host: HOST, port: 9623, qemuArgs: ['-machine', 'pc,accel=tcg', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot'] });
  });

  afterAll(async () => {
    const pid = sim?.vmPid();
    if (pid) process.kill(pid, 'SIGKILL');
    await bed?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('powers the VM on and off: the qemu process starts and stops', async () => {
    expect(await driver().powerState()).toBe('off');
    expect(sim.vmPid()).toBeNull();

    const on = await job('on');
    expect(on).toMatchObject({ ok: true, powerState: 'on' });
    await until('the VM runs', () => sim.vmPid(), 20_000);
    expect(await driver().powerState()).toBe('on');

    const off = await job('off');
    expect(off.ok).toBe(true);
    await until('the VM stops', () => sim.vmPid() === null, 30_000);
    expect(await driver().powerState()).toBe('off');
  });

  it('reprovisions a machine that is off: switches it on, and says the simulator refused the network-boot override', async () => {
    await until('off', async () => (await driver().powerState()) === 'off', 30_000);
    const r = await job('reprovision');
    expect(r.ok).toBe(true);
    expect(r.powerState).toBe('on');
    // ipmi_sim takes boot flags (parameter 5) only from a chassis_control program, not from a VM.
    expect(r.detail).toMatchObject({ protocol: 'ipmi', pxeOverride: 'refused', wasOn: false });
    expect(String(r.detail?.pxeOverrideError)).toContain('Invalid data field');
    await until('the VM runs', () => sim.vmPid(), 20_000);
    const pid = sim.vmPid();
    const again = await job('cycle');
    expect(again).toMatchObject({ ok: true, detail: { wasOn: true } });
    await until('the VM restarted (a new qemu)', () => {
      const now = sim.vmPid();
      return now !== null && now !== pid;
    }, 40_000);
    await job('off');
    await until('the VM stops', () => sim.vmPid() === null, 30_000);
  });

  it('reports a wrong password as refused credentials, without the password anywhere in the report', async () => {
    const r = await job('status', { password: 'not-the-password-XYZ' });
    expect(r.ok).toBe(false);
    expect(r.error).toBe(`the BMC at ${sim.address} refused the user name or password (RMCP+ RAKP)`);
    expect(r.detail?.reason).toBe('auth');
    expect(JSON.stringify(r)).not.toContain('not-the-password-XYZ');
  });

  it('reports an address where nothing answers as unreachable, within its bound', async () => {
    const r = await job('status', { address: `${HOST}:9700` });
    expect(r).toMatchObject({ ok: false, error: `no valid IPMI answer from ${HOST}:9700 (unreachable, not an IPMI 2.0 BMC, or answering garbage)` });
  });

  it('reports a BMC that answers garbage, and one that hangs, as unreachable, and never shows the password on a command line', async () => {
    const garbage = bed.spawn(ns, 'python3', ['-c', "import socket,os\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',9701))\nwhile True:\n d,a=s.recvfrom(4096);s.sendto(os.urandom(len(d)),a)"]);
    const hang = bed.spawn(ns, 'python3', ['-c', "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',9702))\nwhile True: s.recvfrom(4096)"]);
    try {
      const seen: string[] = [];
      const pending = Promise.all([job('status', { address: `${HOST}:9701` }), job('status', { address: `${HOST}:9702` })]);
      // While ipmitool runs, read every process's command line.
      await until('an ipmitool process', () => {
        for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
          try {
            const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            if (cmd.includes('ipmitool') && cmd.includes('lanplus')) seen.push(cmd.replaceAll('\0', ' '));
          } catch {
            // gone
          }
        }
        return seen.length > 0;
      });
      const [g, h] = await pending;
      expect(g).toMatchObject({ ok: false, detail: { reason: 'unreachable' } });
      expect(h).toMatchObject({ ok: false, detail: { reason: 'unreachable' } });
      for (const cmd of seen) {
        expect(cmd).toContain(' -E ');
        expect(cmd).not.toContain(sim.password);
      }
    } finally {
      await Promise.all([garbage.kill(), hang.kill()]);
    }
  });

  it("refuses a credential sealed for another machine before talking to the BMC", async () => {
    const before = sim.vmPid();
    const r = await job(before === null ? 'on' : 'off', { machineId: 'mch_other' });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^cannot open the BMC credential: the credential was not sealed to this relay for this machine/);
    expect(r.detail).toBeUndefined(); // it never reached a driver
    expect(sim.vmPid()).toBe(before);
  });

});
