import { describe, expect, it } from 'vitest';
import { generateRelayKeyPair, openSecret, sealSecret } from '../../../shared/crypto/seal.ts';
import { createSite, enrollRelay } from '../fixtures.ts';
import { BMC_PASSWORD, bmcMachine, keyedRelay } from '../power-fixtures.ts';
import { call, errorCode, randomMac, type ApiTarget } from '../target.ts';

/** BMCs, sealed credentials and power jobs (issue 15), on every runtime. */
export function powerContract(target: () => ApiTarget): void {
  describe('BMCs and power jobs', () => {
    it("registers a relay's sealing key once: the same key again is fine, another is refused", async () => {
      const t = target();
      const r = await enrollRelay(t, await createSite(t));
      const k1 = await generateRelayKeyPair();
      const k2 = await generateRelayKeyPair();
      expect((await call(t, 'PUT', '/v1/relay/seal-key', { token: r.token, json: { publicKey: k1.publicKey } })).status).toBe(200);
      expect((await call(t, 'PUT', '/v1/relay/seal-key', { token: r.token, json: { publicKey: k1.publicKey } })).status).toBe(200);
      const other = await call(t, 'PUT', '/v1/relay/seal-key', { token: r.token, json: { publicKey: k2.publicKey } });
      expect(other.status).toBe(409);
      expect(errorCode(other)).toBe('conflict');
      const bad = await call(t, 'PUT', '/v1/relay/seal-key', { token: r.token, json: { publicKey: 'short' } });
      expect(bad.status).toBe(400);
    });

    it('stores a BMC with ciphertext only, and never returns the ciphertext', async () => {
      const t = target();
      const siteId = await createSite(t);
      const m = await bmcMachine(t, siteId);
      const late = await enrollRelay(t, siteId); // enrolled after the password was sealed
      const rec = await call(t, 'GET', `/v1/machines/${m.machineId}/bmc/recipients`);
      expect(rec.status).toBe(200);
      expect(rec.body.relays).toEqual([{ relayId: m.relay.relayId, name: expect.any(String), publicKey: m.relay.keys.publicKey }]);
      const b = await call(t, 'GET', `/v1/machines/${m.mac}/bmc`);
      expect(b.status).toBe(200);
      expect(b.body).toMatchObject({ machineId: m.machineId, protocol: 'ipmi', address: '10.9.0.5:623', username: 'admin', systemId: null, sealedFor: [m.relay.relayId], missingFor: [late.relayId] });
      expect(b.text).not.toContain('s1.');
      expect(b.text).not.toContain(BMC_PASSWORD);
    });

    it('refuses a credential for a relay of another site, a bad address, and Redfish fields on IPMI', async () => {
      const t = target();
      const siteId = await createSite(t);
      const other = await keyedRelay(t, await createSite(t));
      const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId } })).body;
      const sealed = await sealSecret('pw', other.keys.publicKey, { machineId: m.id, relayId: other.relayId });
      const cross = await call(t, 'PUT', `/v1/machines/${m.id}/bmc`, { json: { protocol: 'ipmi', address: '10.0.0.1', username: 'u', credentials: [{ relayId: other.relayId, sealed }] } });
      expect(cross.status).toBe(409);
      expect(cross.body.error.message).toContain('not a live relay of site');
      const badAddr = await call(t, 'PUT', `/v1/machines/${m.id}/bmc`, { json: { protocol: 'ipmi', address: 'http://x y', username: 'u', credentials: [{ relayId: other.relayId, sealed }] } });
      expect(badAddr.status).toBe(400);
      const mixed = await call(t, 'PUT', `/v1/machines/${m.id}/bmc`, { json: { protocol: 'ipmi', address: '10.0.0.1', username: 'u', tlsFingerprint: 'ab'.repeat(32), credentials: [{ relayId: other.relayId, sealed }] } });
      expect(mixed.status).toBe(400);
      const clear = await call(t, 'PUT', `/v1/machines/${m.id}/bmc`, { json: { protocol: 'ipmi', address: '10.0.0.1', username: 'u', password: 'clear', credentials: [{ relayId: other.relayId, sealed }] } });
      expect(clear.status).toBe(400);
    });

    it('refuses a power job for a machine without a BMC', async () => {
      const t = target();
      const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: await createSite(t) } })).body;
      const r = await call(t, 'POST', `/v1/machines/${m.id}/power`, { json: { action: 'on' } });
      expect(r.status).toBe(409);
      expect(r.body.error.message).toContain('has no BMC');
    });

    it("hands a job to the site's relay with the credential sealed to it, and records the report in the timeline and the audit log", async () => {
      const t = target();
      const siteId = await createSite(t);
      const m = await bmcMachine(t, siteId);
      const stranger = await keyedRelay(t, await createSite(t));
      const job = await call(t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'reprovision' } });
      expect(job.status).toBe(202);
      expect(job.body).toMatchObject({ machineId: m.machineId, siteId, action: 'reprovision', state: 'queued', relayId: null });

      expect((await call(t, 'GET', '/v1/relay/power-jobs?max=16', { token: stranger.token })).body.jobs.map((j: any) => j.id)).not.toContain(job.body.id);
      const taken = await call(t, 'GET', '/v1/relay/power-jobs?max=16', { token: m.relay.token });
      expect(taken.status).toBe(200);
      const mine = taken.body.jobs.find((j: any) => j.id === job.body.id);
      expect(mine).toMatchObject({ machineId: m.machineId, mac: m.mac, action: 'reprovision', bmc: { protocol: 'ipmi', address: '10.9.0.5:623', username: 'admin' } });
      expect(await openSecret(mine.bmc.sealed, m.relay.keys, { machineId: m.machineId, relayId: m.relay.relayId })).toBe(BMC_PASSWORD);
      expect((await call(t, 'GET', `/v1/power-jobs/${job.body.id}`)).body.state).toBe('running');

      const wrongSite = await call(t, 'POST', `/v1/relay/power-jobs/${job.body.id}/result`, { token: stranger.token, json: { ok: true, durationMs: 5 } });
      expect(wrongSite.status).toBe(404);
      const report = await call(t, 'POST', `/v1/relay/power-jobs/${job.body.id}/result`, {
        token: m.relay.token,
        json: { ok: true, powerState: 'on', durationMs: 1234, detail: { pxeOverride: 'set' } },
      });
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ state: 'succeeded', powerState: 'on', durationMs: 1234, relayId: m.relay.relayId, error: null });
      const again = await call(t, 'POST', `/v1/relay/power-jobs/${job.body.id}/result`, { token: m.relay.token, json: { ok: false, error: 'late', durationMs: 1 } });
      expect(again.status).toBe(409);

      const tl = (await call(t, 'GET', `/v1/machines/${m.machineId}/timeline`)).body;
      const stages = tl.boots.flatMap((b: any) => b.stages);
      expect(stages).toEqual([
        expect.objectContaining({ stage: 'power-job', source: 'relay', durationMs: 1234, detail: { jobId: job.body.id, action: 'reprovision', result: 'succeeded', powerState: 'on', pxeOverride: 'set' } }),
      ]);
      const audit = (await call(t, 'GET', `/v1/audit?siteId=${siteId}&limit=100`)).body.items.map((a: any) => a.action);
      expect(audit).toContain('power-job reprovision succeeded');
      expect(JSON.stringify(tl)).not.toContain(BMC_PASSWORD);
    });

    it('records a failed job with its reason', async () => {
      const t = target();
      const m = await bmcMachine(t, await createSite(t));
      const job = (await call(t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'on' } })).body;
      await call(t, 'GET', '/v1/relay/power-jobs?max=16', { token: m.relay.token });
      const r = await call(t, 'POST', `/v1/relay/power-jobs/${job.id}/result`, { token: m.relay.token, json: { ok: false, error: 'BMC refused the password', durationMs: 80 } });
      expect(r.body).toMatchObject({ state: 'failed', error: 'BMC refused the password' });
      const list = (await call(t, 'GET', `/v1/machines/${m.machineId}/power-jobs`)).body.items;
      expect(list.map((j: any) => [j.id, j.state])).toEqual([[job.id, 'failed']]);
    });

    it('holds a long-poll until a job is queued, then hands it over', async () => {
      const t = target();
      const m = await bmcMachine(t, await createSite(t));
      const waiting = call(t, 'GET', '/v1/relay/power-jobs?wait=20&max=4', { token: m.relay.token });
      const job = (await call(t, 'POST', `/v1/machines/${m.machineId}/power`, { json: { action: 'status' } })).body;
      expect((await waiting).body.jobs.map((j: any) => j.id)).toEqual([job.id]);
    });
  });
}
