import { afterEach, describe, expect, it } from 'vitest';
import { createSite, enrollRelay } from '../fixtures.ts';
import { artifact, clearFleet, publish, publishPath, published, uniqueVersion } from '../releases-fixtures.ts';
import { call, errorCode, type ApiTarget, type CallResult } from '../target.ts';

function expectEnvelope(r: CallResult, status: number, code: string): void {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(errorCode(r)).toBe(code);
  expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
}

async function listed(t: ApiTarget, version: string): Promise<any[]> {
  const r = await call(t, 'GET', '/v1/relay-releases');
  expect(r.status).toBe(200);
  return r.body.items.filter((x: { version: string }) => x.version === version);
}

export function relayReleasesContract(target: () => ApiTarget) {
  describe('relay releases', () => {
    // The fleet's choice is one row for the whole target: every case leaves it cleared.
    afterEach(async () => clearFleet(target()));

    it('publishes a signed executable once, lists it with its statement, and refuses other bytes under the same version', async () => {
      const t = target();
      const v = uniqueVersion();
      const a = await artifact(v, 'x64', 'executable');
      const r = await publish(t, a);
      expect(r.status, r.text).toBe(201);
      expect(r.body).toMatchObject({ ...a.statement, storedBytes: 1024 });
      expect(await listed(t, v)).toEqual([expect.objectContaining({ ...a.statement, storedBytes: 1024 })]);
      // The same statement again: a retried publish, not an error.
      expect((await publish(t, a)).status).toBe(200);
      // Other bytes under the same version: releases are immutable.
      const other = await artifact(v, 'x64', 'executable');
      expectEnvelope(await publish(t, other), 409, 'conflict');
      expect(await listed(t, v)).toHaveLength(1);
    });

    it('lists releases newest version first', async () => {
      const t = target();
      const major = 1000 + Math.floor(Math.random() * 1000);
      for (const v of [`${major}.2.0`, `${major}.10.0`, `${major}.9.1`]) await published(t, v);
      const mine = (await call(t, 'GET', '/v1/relay-releases')).body.items.map((x: { version: string }) => x.version).filter((v: string) => v.startsWith(`${major}.`));
      expect(mine).toEqual([`${major}.10.0`, `${major}.9.1`, `${major}.2.0`]);
    });

    it('stores a .deb only when its bytes are the signed ones', async () => {
      const t = target();
      const v = uniqueVersion();
      const a = await artifact(v, 'x64', 'deb');
      const tampered = { ...a, body: a.body.map((b, i) => (i === 0 ? b ^ 1 : b)) };
      expectEnvelope(await publish(t, tampered), 422, 'checksum_mismatch');
      expect(await listed(t, v)).toEqual([]);
      expect((await publish(t, a)).status).toBe(201);
      // What a site box's install script reads: the newest package, and its bytes.
      const latest = await call(t, 'GET', '/v1/relays/packages/latest?arch=x64', { token: null });
      expect(latest.status).toBe(200);
      expect(latest.text).toMatch(/^version=\S+\narch=x64\nbytes=\d+\nsha256=[0-9a-f]{64}\npath=\/v1\/relays\/packages\/\S+\/x64\/deb\n$/);
      const pkg = await call(t, 'GET', `/v1/relays/packages/${v}/x64/deb`, { token: null });
      expect(pkg.status).toBe(200);
      expect(pkg.headers.get('content-type')).toBe('application/vnd.debian.binary-package');
      expect(new TextEncoder().encode(pkg.text).length).toBeGreaterThan(0);
    });

    it('chooses a version fleet-wide, a site pin wins over it, and clearing the pin follows the fleet again', async () => {
      const t = target();
      const [fleetV, pinV] = [uniqueVersion(), uniqueVersion()];
      await published(t, fleetV);
      await published(t, pinV);
      const [A, B] = [await createSite(t), await createSite(t)];
      const [relayA, relayB] = [await enrollRelay(t, A), await enrollRelay(t, B)];

      expect((await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: fleetV } })).body.fleet).toBe(fleetV);
      const pinned = await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: pinV, siteId: A } });
      expect(pinned.status).toBe(200);
      expect(pinned.body).toMatchObject({ fleet: fleetV });
      expect(pinned.body.sites).toContainEqual({ siteId: A, version: pinV });
      expect((await call(t, 'GET', '/v1/relay-releases/desired')).body).toEqual(pinned.body);

      // What each relay is told, and what people see of each relay.
      const told = async (r: { token: string }) => (await call(t, 'GET', '/v1/relay/release?arch=x64&version=0.0.1', { token: r.token })).body.desired;
      expect(await told(relayA)).toMatchObject({ version: pinV, arch: 'x64', kind: 'executable', path: `/v1/relay/releases/${pinV}/x64/executable` });
      expect(await told(relayB)).toMatchObject({ version: fleetV });
      expect((await call(t, 'GET', `/v1/relays/${relayA.relayId}`)).body.desiredVersion).toBe(pinV);
      expect((await call(t, 'GET', `/v1/relays?siteId=${B}`)).body.items).toEqual([expect.objectContaining({ id: relayB.relayId, desiredVersion: fleetV })]);

      expect((await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: null, siteId: A } })).body.sites).not.toContainEqual(expect.objectContaining({ siteId: A }));
      expect(await told(relayA)).toMatchObject({ version: fleetV });
      await clearFleet(t);
      expect(await told(relayA)).toBeNull();
      expect((await call(t, 'GET', `/v1/relays/${relayA.relayId}`)).body.desiredVersion).toBeNull();
    });

    it('tells a relay nothing for an architecture without that release, and serves the bytes it published', async () => {
      const t = target();
      const v = uniqueVersion();
      const a = await published(t, v, 'x64');
      const relay = await enrollRelay(t, await createSite(t));
      await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: v } });
      expect((await call(t, 'GET', '/v1/relay/release?arch=arm64', { token: relay.token })).body).toEqual({ desired: null });
      const got = await t.fetch(`/v1/relay/releases/${v}/x64/executable`, { headers: { authorization: `Bearer ${relay.token}` } });
      expect(got.status).toBe(200);
      expect(new Uint8Array(await got.arrayBuffer())).toEqual(a.body);
      expectEnvelope(await call(t, 'GET', `/v1/relay/releases/${v}/arm64/executable`, { token: relay.token }), 404, 'not_found');
    });

    it("records a relay's update report and shows it on the relay", async () => {
      const t = target();
      const relay = await enrollRelay(t, await createSite(t));
      const r = await call(t, 'POST', '/v1/relay/update-state', { token: relay.token, json: { state: 'refused', version: '9.9.9', reason: 'the release is for arm64, this relay runs on x64' } });
      expect(r.status).toBe(200);
      expect((await call(t, 'GET', `/v1/relays/${relay.relayId}`)).body.update).toMatchObject({ state: 'refused', version: '9.9.9', reason: 'the release is for arm64, this relay runs on x64' });
    });

    it('refuses to choose a version that has no executable, or a site that does not exist', async () => {
      const t = target();
      const debOnly = uniqueVersion();
      await published(t, debOnly, 'x64', 'deb');
      expectEnvelope(await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: debOnly } }), 409, 'conflict');
      expectEnvelope(await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: uniqueVersion() } }), 409, 'conflict');
      expectEnvelope(await call(t, 'PUT', '/v1/relay-releases/desired', { json: { version: null, siteId: 'site_doesnotexist' } }), 404, 'not_found');
      expect((await call(t, 'GET', '/v1/relay-releases/desired')).body.fleet).toBeNull();
    });

    describe('bad input, answered with the error envelope and nothing stored', () => {
      it('refuses a publish whose path or statement is not a release', async () => {
        const t = target();
        const v = uniqueVersion();
        const a = await artifact(v, 'x64', 'executable');
        const put = (path: string, body: Uint8Array = a.body) => call(t, 'PUT', path, { body: body as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } });
        const q = publishPath(a.statement).split('?')[1]!;
        // Another architecture, kind or a version that is not one.
        expectEnvelope(await put(`/v1/relay-releases/${v}/sparc/executable?${q}`), 400, 'validation_failed');
        expectEnvelope(await put(`/v1/relay-releases/${v}/x64/rpm?${q}`), 400, 'validation_failed');
        expectEnvelope(await put(`/v1/relay-releases/latest/x64/executable?${q}`), 400, 'validation_failed');
        expectEnvelope(await put(`/v1/relay-releases/${encodeURIComponent('1.0.0;rm -rf')}/x64/executable?${q}`), 400, 'validation_failed');
        // A statement that is garbage: no query, a size that is no number, a short hash, a signature that is not one.
        expectEnvelope(await put(`/v1/relay-releases/${v}/x64/executable`), 400, 'validation_failed');
        for (const [k, bad] of [['bytes', 'lots'], ['bytes', '-1'], ['sha256', 'abc'], ['signature', 'not-a-signature'], ['keyId', 'a b']] as const) {
          const p = new URLSearchParams(q);
          p.set(k, bad);
          expectEnvelope(await put(`/v1/relay-releases/${v}/x64/executable?${p}`), 400, 'validation_failed');
        }
        expect(await listed(t, v)).toEqual([]);
      });

      it('refuses an upload over the size limit, and one without a length', async () => {
        const t = target();
        const v = uniqueVersion();
        const a = await artifact(v, 'x64', 'executable');
        const huge = await call(t, 'PUT', publishPath(a.statement), { body: a.body as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(2 ** 45) } }).catch(() => null);
        // Some runtimes refuse to send a body shorter than its Content-Length; those that send it get 413.
        if (huge) expectEnvelope(huge, 413, 'payload_too_large');
        const garbageLength = await call(t, 'PUT', publishPath(a.statement), { body: a.body as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': 'many' } }).catch(() => null);
        if (garbageLength) expect(garbageLength.status).toBeGreaterThanOrEqual(400);
        expect(await listed(t, v)).toEqual([]);
      });

      it('refuses a relay asking for an architecture that is not one, or a release that does not exist', async () => {
        const t = target();
        const relay = await enrollRelay(t, await createSite(t));
        for (const q of ['', '?arch=sparc', '?arch=', '?arch=x64%00']) expectEnvelope(await call(t, 'GET', `/v1/relay/release${q}`, { token: relay.token }), 400, 'validation_failed');
        expectEnvelope(await call(t, 'GET', '/v1/relay/releases/garbage/x64/executable', { token: relay.token }), 404, 'not_found');
        expectEnvelope(await call(t, 'GET', `/v1/relay/releases/${uniqueVersion()}/x64/executable`, { token: relay.token }), 404, 'not_found');
        expectEnvelope(await call(t, 'GET', '/v1/relays/packages/latest?arch=mips', { token: null }), 400, 'validation_failed');
        expectEnvelope(await call(t, 'GET', `/v1/relays/packages/${uniqueVersion()}/x64/executable`, { token: null }), 404, 'not_found');
      });
    });
  });
}
