import { beforeAll, describe, expect, it } from 'vitest';
import { renderAgain, renderedBoot } from '../boot-fixtures.ts';
import { createSite } from '../fixtures.ts';
import { call, errorCode, type ApiTarget } from '../target.ts';

export function callbacksContract(target: () => ApiTarget): void {
  describe('callbacks', () => {
    let t: ApiTarget;
    let siteId: string;
    beforeAll(async () => {
      t = target();
      siteId = await createSite(t);
    });
    const machine = async (id: string) => (await call(t, 'GET', `/v1/machines/${id}`)).body;
    const lastBoot = async (id: string) => (await call(t, 'GET', `/v1/machines/${id}/timeline?limit=1`)).body.boots[0];
    const post = (event: string, token: string | null, json?: unknown, query = '') => call(t, 'POST', `/v1/callback/${event}${query}`, { token, json });

    it('marks the boot started, keeps the last progress, and records both on the timeline', async () => {
      const b = await renderedBoot(t, siteId);
      expect((await machine(b.machineId)).state).toBe('provisioning');
      const started = await post('started', b.token, { message: 'installer up' });
      expect(started.status, started.text).toBe(200);
      expect(started.body).toEqual({ bootId: b.bootId, state: 'started' });
      expect((await post('progress', b.token, { bytes: 10, totalBytes: 100, percent: 10 })).status).toBe(200);
      expect((await post('progress', b.token, { percent: 55.5, message: 'copying' })).status).toBe(200);
      const boot = await lastBoot(b.machineId);
      expect(boot.bootId).toBe(b.bootId);
      expect(boot.outcome).toBe('in-progress');
      expect(boot.progress).toMatchObject({ percent: 55.5, message: 'copying' });
      expect(boot.progress.bytes).toBeUndefined();
      expect(boot.stages.map((s: any) => s.stage)).toEqual(['script-rendered', 'callback-started', 'callback-progress', 'callback-progress']);
      expect(boot.stages[1]).toMatchObject({ source: 'callback', detail: { message: 'installer up' } });
    });

    it('on success deploys the machine and consumes a one-shot: the next boot is the local disk', async () => {
      const b = await renderedBoot(t, siteId, { once: true });
      const r = await post('succeeded', b.token, { message: 'done' });
      expect(r.status, r.text).toBe(200);
      expect(r.body.state).toBe('succeeded');
      expect((await machine(b.machineId)).state).toBe('deployed');
      expect((await lastBoot(b.machineId)).outcome).toBe('succeeded');
      const next = await call(t, 'GET', `/v1/relay/boot?mac=${b.mac}&arch=0`, { token: b.relay.token });
      expect(next.status).toBe(200);
      expect(next.headers.get('x-edgeboot-decision')).toBe('local');
      expect(next.headers.get('x-edgeboot-reason')).toContain('one-shot consumed');
    });

    it('on success of a standing assignment consumes nothing: the machine netboots again', async () => {
      const b = await renderedBoot(t, siteId, { once: false });
      expect((await post('succeeded', b.token)).status).toBe(200);
      const next = await call(t, 'GET', `/v1/relay/boot?mac=${b.mac}&arch=0`, { token: b.relay.token });
      expect(next.headers.get('x-edgeboot-decision')).toBe('boot');
    });

    it('on failure marks boot and machine failed and keeps the end of the log', async () => {
      const b = await renderedBoot(t, siteId);
      const log = `${'early line\n'.repeat(3000)}the real error at the end`;
      const r = await post('failed', b.token, { reason: 'disk not found', logTail: log });
      expect(r.status, r.text).toBe(200);
      expect((await machine(b.machineId)).state).toBe('failed');
      const boot = await lastBoot(b.machineId);
      expect(boot.outcome).toBe('failed');
      expect(boot.logTail.length).toBe(16 * 1024);
      expect(boot.logTail.endsWith('the real error at the end')).toBe(true);
      expect(boot.stages.at(-1)).toMatchObject({ stage: 'callback-failed', detail: { reason: 'disk not found' } });
    });

    it('accepts the token as ?token= for tools that cannot set headers, with no body', async () => {
      const b = await renderedBoot(t, siteId);
      const r = await t.fetch(`/v1/callback/started?token=${b.token}`, { method: 'POST' });
      expect(r.status, await r.text()).toBe(200);
    });

    it("answers 404 for another machine's token when the MAC is given, and accepts any spelling of the right MAC", async () => {
      const a = await renderedBoot(t, siteId);
      const other = await renderedBoot(t, siteId, { relay: a.relay });
      const r = await post('started', other.token, undefined, `?mac=${a.mac}`);
      expect(r.status, r.text).toBe(404);
      expect(errorCode(r)).toBe('not_found');
      expect((await lastBoot(other.machineId)).stages.map((s: any) => s.stage)).toEqual(['script-rendered']);
      expect((await post('started', a.token, undefined, `?mac=${a.mac.replaceAll(':', '-').toUpperCase()}`)).status).toBe(200);
    });

    it('refuses unknown, missing, malformed and person tokens with 401', async () => {
      const b = await renderedBoot(t, siteId);
      for (const token of ['ebc_00000000000000000000000000000000', t.adminToken, `${b.token}x`]) {
        const r = await post('started', token);
        expect(r.status, token).toBe(401);
        expect(errorCode(r)).toBe('unauthorized');
      }
      expect((await post('started', null)).status).toBe(401);
      expect((await post('started', null, undefined, '?token=ebc_unknown0000')).status).toBe(401);
      expect((await post('started', null, undefined, '?token=%3Bdrop')).status).toBe(401);
      expect((await call(t, 'POST', '/v1/callback/started', { token: null, headers: { authorization: 'Basic eDp5' } })).status).toBe(401);
      expect((await lastBoot(b.machineId)).stages).toHaveLength(1);
    });

    it('is no bearer token anywhere else', async () => {
      const b = await renderedBoot(t, siteId);
      expect((await call(t, 'GET', '/v1/sites', { token: b.token })).status).toBe(401);
      expect((await call(t, 'GET', `/v1/machines/${b.machineId}`, { token: b.token })).status).toBe(401);
    });

    it('refuses every callback with 410 once the boot succeeded or failed', async () => {
      const ok = await renderedBoot(t, siteId);
      expect((await post('succeeded', ok.token)).status).toBe(200);
      const failed = await renderedBoot(t, siteId, { relay: ok.relay });
      expect((await post('failed', failed.token, { reason: 'x' })).status).toBe(200);
      for (const token of [ok.token, failed.token]) {
        for (const [event, body] of [['started', {}], ['progress', { percent: 1 }], ['succeeded', {}], ['failed', { reason: 'again' }]] as const) {
          const r = await post(event, token, body);
          expect(r.status, `${event}: ${r.text}`).toBe(410);
          expect(errorCode(r)).toBe('gone');
        }
      }
      expect((await machine(ok.machineId)).state).toBe('deployed');
      expect((await machine(failed.machineId)).state).toBe('failed');
    });

    it("a new boot's token works while the old boot's stays spent", async () => {
      const b = await renderedBoot(t, siteId);
      expect((await post('failed', b.token, { reason: 'first try' })).status).toBe(200);
      const again = await renderAgain(t, b.relay.token, b.mac);
      expect(again.bootId).not.toBe(b.bootId);
      expect((await post('started', b.token)).status).toBe(410);
      expect((await post('started', again.token)).status).toBe(200);
    });

    it('checks the token before the body, and the body after it', async () => {
      expect((await post('failed', 'ebc_00000000000000000000000000000000', { nonsense: true })).status).toBe(401);
      const b = await renderedBoot(t, siteId);
      for (const [event, body] of [['progress', { percent: 101 }], ['progress', { bytes: -1 }], ['failed', {}], ['failed', { reason: 'x', logTail: 5 }], ['started', { extra: 1 }]] as const) {
        const r = await post(event, b.token, body);
        expect(r.status, `${event} ${JSON.stringify(body)}`).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
      expect((await lastBoot(b.machineId)).outcome).toBe('in-progress');
    });

    it('writes an audit row per callback, attributed to the boot', async () => {
      const b = await renderedBoot(t, siteId);
      expect((await post('progress', b.token, { percent: 5 })).status).toBe(200);
      const audit = await call(t, 'GET', `/v1/audit?target=${b.bootId}`);
      expect(audit.status).toBe(200);
      expect(audit.body.items).toEqual([expect.objectContaining({ actor: `boot:${b.bootId}`, action: 'POST /v1/callback/progress', result: 'ok', siteId })]);
    });
  });
}
