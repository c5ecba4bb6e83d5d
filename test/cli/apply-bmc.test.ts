import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRelayKeyPair, openSecret, type RelayKeyPair } from '../../shared/crypto/seal.ts';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, auditEntries, makeCli, startCloud, type Cli } from './support.ts';

/**
 * BMCs in the fleet file: the password is read from the environment or a file at apply time and
 * sealed to the site's relays by the CLI; the cloud never sees it. Whether a sealed copy opens is
 * checked the way a relay sees it: a job's `bmc.sealed`, opened with the relay key this test made.
 */
describe('edgeboot apply with BMCs (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  let n = 0;

  beforeAll(async () => {
    entry = await startCloud('cli-apply-bmc');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  const ok = <T>(r: { status: number; body: T }, status: number): T => {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    return r.body;
  };
  const mutations = async () => (await auditEntries(entry)).length;

  interface KeyedRelay {
    relayId: string;
    token: string;
    keys: RelayKeyPair;
  }
  /** A relay of the site with a sealing key this test holds (as the relay makes at start). */
  async function keyedRelay(siteId: string): Promise<KeyedRelay> {
    const { code } = ok(await api(entry, 'POST', `/v1/sites/${siteId}/enrollment-codes`, {}), 201);
    const enrolled = ok(await api(entry, 'POST', '/v1/relays/enroll', { code, name: `relay-${++n}` }, null), 201);
    const keys = await generateRelayKeyPair();
    ok(await api(entry, 'PUT', '/v1/relay/seal-key', { publicKey: keys.publicKey }, enrolled.token), 200);
    return { relayId: enrolled.relay.id, token: enrolled.token, keys };
  }
  /** A fresh site (named for the test) with one keyed relay, and a MAC of its own. */
  async function world() {
    const i = ++n;
    const site = `bmc-site-${i}`;
    const siteId = ok(await api(entry, 'POST', '/v1/sites', { name: site }), 201).id as string;
    const dir = join(cli.home, `fleet-${i}`);
    mkdirSync(dir, { recursive: true });
    return { site, siteId, mac: `52:54:00:cc:00:${i.toString(16).padStart(2, '0')}`, relay: await keyedRelay(siteId), dir, file: join(dir, 'fleet.yaml') };
  }
  const fleetWith = (w: { site: string; mac: string }, bmc: string[] | null) =>
    ['machines:', `  - mac: ${w.mac}`, `    site: ${w.site}`, ...(bmc === null ? ['    bmc: null'] : ['    bmc:', ...bmc.map((l) => `      ${l}`)]), ''].join('\n');
  const machineId = async (mac: string): Promise<string> => ok(await api(entry, 'GET', `/v1/machines/${mac}`), 200).id;

  /** The password as `relay` opens it from the job the cloud hands it: what a relay would use. */
  async function opened(mac: string, relay: KeyedRelay): Promise<string> {
    const id = await machineId(mac);
    const job = ok(await api(entry, 'POST', `/v1/machines/${id}/power`, { action: 'status' }), 202);
    const taken = ok(await api(entry, 'GET', '/v1/relay/power-jobs?max=16', undefined, relay.token), 200) as { jobs: { id: string; bmc: { sealed: string } }[] };
    const mine = taken.jobs.find((j) => j.id === job.id)!;
    ok(await api(entry, 'POST', `/v1/relay/power-jobs/${job.id}/result`, { ok: true, powerState: 'on', durationMs: 1 }, relay.token), 200);
    return openSecret(mine.bmc.sealed, relay.keys, { machineId: id, relayId: relay.relayId });
  }

  it('shows the BMC in the plan without the password, seals it from passwordEnv at apply, and a second apply makes no call', async () => {
    const w = await world();
    const password = `env-pw-${crypto.randomUUID()}`;
    writeFileSync(w.file, fleetWith(w, ['ipmi: 10.0.5.21', 'user: admin', 'passwordEnv: FLEET_BMC_PW']));
    const env = { FLEET_BMC_PW: password };

    const before = await mutations();
    const dry = await cli.run(['apply', '-f', w.file, '--dry-run'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(['BMCs:', `  + create    ${w.mac}`, '      address: 10.0.5.21', '      protocol: ipmi', '      user: admin', '      password: sealed from env FLEET_BMC_PW'].join('\n'));
    expect(await mutations()).toBe(before);

    const r = await cli.run(['apply', '-f', w.file], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`created bmc ${w.mac}`);
    expect(`${dry.stdout}${dry.stderr}${r.stdout}${r.stderr}`).not.toContain(password);
    const id = await machineId(w.mac);
    expect(ok(await api(entry, 'GET', `/v1/machines/${id}/bmc`), 200)).toMatchObject({
      protocol: 'ipmi', address: '10.0.5.21', username: 'admin', systemId: null, tlsFingerprint: null, sealedFor: [w.relay.relayId], missingFor: [],
    });
    expect(await opened(w.mac, w.relay)).toBe(password);

    // Nothing to seal, so the password is not even needed: no variable set this time.
    const calls = await mutations();
    const again = await cli.run(['--json', 'apply', '-f', w.file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().summary).toEqual({ create: 0, update: 0, delete: 0, unchanged: 2 });
    expect(await mutations()).toBe(calls);
  });

  it('seals again when the user changes, when a relay joins the site, and on --reseal after a new password', async () => {
    const w = await world();
    const pwFile = join(w.dir, 'secrets', 'bmc-pw');
    mkdirSync(join(w.dir, 'secrets'));
    writeFileSync(pwFile, 'first-password\n');
    const lines = (user: string) => ['redfish: https://10.0.5.22', `user: ${user}`, 'passwordFile: secrets/bmc-pw', 'systemId: System.Embedded.1'];
    writeFileSync(w.file, fleetWith(w, lines('root')));
    // passwordFile is relative to the fleet file, whatever the working directory.
    expect((await cli.run(['apply', '-f', w.file], { cwd: cli.home })).code).toBe(0);
    expect(await opened(w.mac, w.relay)).toBe('first-password');

    writeFileSync(w.file, fleetWith(w, lines('ops')));
    const user = await cli.run(['apply', '-f', w.file]);
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toContain(
      [`  ~ update    ${w.mac}`, '      user: root → ops', `      password: sealed for ${w.relay.relayId} → sealed again from file secrets/bmc-pw (the BMC changed)`].join('\n'),
    );
    const id = await machineId(w.mac);
    expect(ok(await api(entry, 'GET', `/v1/machines/${id}/bmc`), 200).username).toBe('ops');

    const late = await keyedRelay(w.siteId);
    const dry = await cli.run(['apply', '-f', w.file, '--dry-run']);
    expect(dry.stdout).toContain(`(no sealed copy for relay ${late.relayId})`);
    expect((await cli.run(['apply', '-f', w.file])).code).toBe(0);
    expect(ok(await api(entry, 'GET', `/v1/machines/${id}/bmc`), 200)).toMatchObject({ sealedFor: [w.relay.relayId, late.relayId].sort(), missingFor: [] });
    expect(await opened(w.mac, late)).toBe('first-password');

    // The cloud cannot see that the file now holds another password: without --reseal, nothing is sent.
    writeFileSync(pwFile, 'second-password\n');
    const calls = await mutations();
    const unchanged = await cli.run(['apply', '-f', w.file]);
    expect(unchanged.stdout).toContain('No changes');
    expect(await mutations()).toBe(calls);
    const reseal = await cli.run(['apply', '-f', w.file, '--reseal']);
    expect(reseal.code, reseal.stderr).toBe(0);
    expect(reseal.stdout).toContain('(--reseal)');
    expect(await opened(w.mac, w.relay)).toBe('second-password');
    expect(await opened(w.mac, late)).toBe('second-password');
  });

  it('changes nothing when a password cannot be read, pointing at the line, and forgets the BMC for bmc: null', async () => {
    const w = await world();
    writeFileSync(w.file, fleetWith(w, ['ipmi: 10.0.5.23', 'user: admin', 'passwordEnv: FLEET_BMC_UNSET']));
    const before = await mutations();
    const r = await cli.run(['apply', '-f', w.file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${w.file}:7:20: machines[0].bmc.passwordEnv: the environment variable FLEET_BMC_UNSET is not set (or empty)`);
    expect(r.stderr).toContain('nothing was changed');
    // Not even the machine the same file creates.
    expect(await mutations()).toBe(before);
    expect((await api(entry, 'GET', `/v1/machines/${w.mac}`)).status).toBe(404);

    expect((await cli.run(['apply', '-f', w.file], { env: { FLEET_BMC_UNSET: 'now-set' } })).code).toBe(0);
    const id = await machineId(w.mac);
    expect((await api(entry, 'GET', `/v1/machines/${id}/bmc`)).status).toBe(200);
    writeFileSync(w.file, fleetWith(w, null));
    const del = await cli.run(['apply', '-f', w.file]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toContain(`deleted bmc ${w.mac}`);
    expect((await api(entry, 'GET', `/v1/machines/${id}/bmc`)).status).toBe(404);
    expect((await cli.run(['apply', '-f', w.file])).stdout).toContain('No changes');
  });
});
