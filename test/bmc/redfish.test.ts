/**
 * The relay's Redfish driver and job execution against a Redfish service this test stands up
 * (support/redfish-double.ts). No Redfish BMC emulator is packaged, so THE BMC IS A TEST DOUBLE; the
 * power state is real: the double starts, resets and quits a qemu VM through QMP, and the test reads
 * whether that qemu process runs. What is checked is the driver's side of the wire (sessions, basic
 * auth, certificate pinning, Reset types, the PXE-once override) and its errors.
 */
import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRelayKeyPair, sealSecret, type RelayKeyPair } from '../../shared/crypto/seal.ts';
import type { RelayPowerJob } from '../../shared/schemas/bmc.ts';
import { redfishDriver } from '../../relay/src/bmc/redfish.ts';
import { executeJob } from '../../relay/src/jobs/execute.ts';
import { tempDir } from '../relay/support/relay-harness.ts';
import { requireTools } from '../support/netns.ts';
import { startRedfishDouble, type RedfishDouble } from './support/redfish-double.ts';

const USER = 'root';
const PASSWORD = 'redfish-pw-7Kq';
const RELAY_ID = 'rly_redfishtest';
// No -no-reboot: with it, qemu treats the ForceRestart's system_reset as a shutdown and exits.
const QEMU = ['-machine', 'pc,accel=tcg', '-m', '64', '-display', 'none', '-nodefaults'];

describe('Redfish against a test-double BMC driving a real qemu VM over QMP', () => {
  let keys: RelayKeyPair;
  let bmc: RedfishDouble;
  let basicBmc: RedfishDouble;
  const dirs: string[] = [];
  const servers: Server[] = [];

  async function job(action: RelayPowerJob['action'], over: { url?: string; fingerprint?: string | null; password?: string; timeoutMs?: number } = {}) {
    const machineId = 'mch_redfishtest';
    const sealed = await sealSecret(over.password ?? PASSWORD, keys.publicKey, { machineId, relayId: RELAY_ID });
    const j: RelayPowerJob = {
      id: 'pjob_redfish',
      machineId,
      mac: '52:54:00:00:00:02',
      action,
      deadlineAt: new Date(Date.now() + 60_000).toISOString(),
      bmc: { protocol: 'redfish', address: over.url ?? bmc.url, username: USER, systemId: null, tlsFingerprint: over.fingerprint === undefined ? bmc.fingerprint : over.fingerprint, sealed },
    };
    return executeJob(j, { keys, relayId: RELAY_ID, driverFor: (_p, t) => redfishDriver(t, { requestTimeoutMs: over.timeoutMs ?? 10_000 }) });
  }

  beforeAll(async () => {
    requireTools(['qemu-system-x86_64', 'openssl']);
    keys = await generateRelayKeyPair();
    const a = tempDir('redfish');
    const b = tempDir('redfish-basic');
    dirs.push(a, b);
    bmc = await startRedfishDouble({ dir: a, username: USER, password: PASSWORD, sessions: true, qemuArgs: QEMU });
    basicBmc = await startRedfishDouble({ dir: b, username: USER, password: PASSWORD, sessions: false, tls: false, qemuArgs: QEMU });
  });

  afterAll(async () => {
    await bmc?.close();
    await basicBmc?.close();
    for (const s of servers) s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('powers the VM on, reprovisions it (PXE once, then a restart) and powers it off, over a pinned TLS session', async () => {
    expect(await job('status')).toMatchObject({ ok: true, powerState: 'off' });
    expect(await job('on')).toMatchObject({ ok: true, powerState: 'on' });
    expect(bmc.vmRunning()).toBe(true);
    const pid = bmc.vmPid();

    const r = await job('reprovision');
    expect(r).toMatchObject({ ok: true, powerState: 'on', detail: { protocol: 'redfish', pxeOverride: 'set', wasOn: true } });
    expect(bmc.bootOverride).toEqual({ target: 'Pxe', enabled: 'Once' });
    expect(bmc.qmpCommands).toContain('system_reset');
    expect(bmc.vmPid()).toBe(pid); // a reset, not a new process

    expect(await job('shutdown')).toMatchObject({ ok: true });
    expect(bmc.qmpCommands.at(-1)).toBe('system_powerdown');

    expect(await job('off')).toMatchObject({ ok: true, powerState: 'off' });
    expect(bmc.vmRunning()).toBe(false);
    // Each job opened a session and closed it.
    expect(bmc.requests.filter((x) => x.startsWith('POST /redfish/v1/SessionService/Sessions')).length).toBe(bmc.requests.filter((x) => x.startsWith('DELETE /redfish/v1/SessionService/Sessions/')).length);
  });

  it('switches a machine that is off on for a reprovision, with PXE for that boot', async () => {
    expect(await job('reprovision')).toMatchObject({ ok: true, powerState: 'on', detail: { pxeOverride: 'set', wasOn: false } });
    expect(bmc.vmRunning()).toBe(true);
    // The double applied the Once override to this power-on and cleared it.
    expect(bmc.bootOverride).toBeNull();
    await job('off');
    expect(bmc.vmRunning()).toBe(false);
  });

  it('uses HTTP basic where the service has no sessions', async () => {
    expect(await job('on', { url: basicBmc.url, fingerprint: null })).toMatchObject({ ok: true, powerState: 'on' });
    expect(basicBmc.vmRunning()).toBe(true);
    expect(await job('off', { url: basicBmc.url, fingerprint: null })).toMatchObject({ ok: true, powerState: 'off' });
    expect(basicBmc.vmRunning()).toBe(false);
  });

  it('sends nothing to a BMC whose certificate does not match the pin', async () => {
    const before = bmc.requests.length;
    const r = await job('on', { fingerprint: 'ab'.repeat(32) });
    expect(r).toMatchObject({ ok: false, detail: { reason: 'tls' } });
    expect(r.error).toContain(`presented a certificate with SHA-256 fingerprint ${bmc.fingerprint}, not the pinned one: nothing was sent`);
    expect(bmc.requests.length).toBe(before);
    expect(bmc.vmRunning()).toBe(false);
  });

  it('refuses an unpinned self-signed certificate and says how to pin it', async () => {
    const r = await job('status', { fingerprint: null });
    expect(r).toMatchObject({ ok: false, detail: { reason: 'tls' } });
    expect(r.error).toContain('pin it with --tls-fingerprint');
  });

  it('reports a wrong password as refused credentials, without the password in the report', async () => {
    const r = await job('status', { password: 'nope-nope-123' });
    expect(r).toMatchObject({ ok: false, detail: { reason: 'auth' } });
    expect(JSON.stringify(r)).not.toContain('nope-nope-123');
  });

  it('reports a BMC that answers garbage, one that hangs, and one that is not there', async () => {
    const garbage = createServer((s) => s.end(randomBytes(512)));
    const hang = createServer(() => undefined);
    servers.push(garbage, hang);
    const port = async (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
    const g = await job('status', { url: `http://127.0.0.1:${await port(garbage)}`, fingerprint: null, timeoutMs: 2000 });
    expect(g).toMatchObject({ ok: false });
    expect(['unreachable', 'protocol']).toContain(g.detail?.reason);
    const h = await job('status', { url: `https://127.0.0.1:${await port(hang)}`, fingerprint: 'ab'.repeat(32), timeoutMs: 1000 });
    expect(h).toMatchObject({ ok: false, detail: { reason: 'unreachable' } });
    expect(h.error).toContain('no TLS answer');
    const closed = createServer();
    const p = await port(closed);
    await new Promise((r) => closed.close(r));
    const n = await job('status', { url: `http://127.0.0.1:${p}`, fingerprint: null });
    expect(n).toMatchObject({ ok: false, detail: { reason: 'unreachable' } });
    expect(n.error).toContain('ECONNREFUSED');
  });
});

