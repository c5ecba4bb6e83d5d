import { describe, expect, it } from 'vitest';
import { CALLBACK_TTL_MS } from '../../cloud/src/boot/serve.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { insertBootRow } from '../support/boot-row.ts';
import { inProcessTarget, manualClock } from '../support/in-process.ts';
import { renderedBoot } from './boot-fixtures.ts';
import { createSite } from './fixtures.ts';
import { call, errorCode, randomMac } from './target.ts';

/** Callback token expiry needs a clock the test moves: in-process only. */
describe('callback tokens over time (in-process, manual clock)', () => {
  it('accepts a rendered boot’s token until its expiry instant, then refuses it with 401 and changes nothing', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const b = await renderedBoot(t, await createSite(t));
    clock.advance(CALLBACK_TTL_MS - 1);
    expect((await call(t, 'POST', '/v1/callback/progress', { token: b.token, json: { percent: 50 } })).status).toBe(200);
    clock.advance(1);
    const r = await call(t, 'POST', '/v1/callback/succeeded', { token: b.token });
    expect(r.status).toBe(401);
    expect(errorCode(r)).toBe('unauthorized');
    expect(r.body.error.message).toBe('callback token expired');
    expect((await call(t, 'GET', `/v1/machines/${b.machineId}`)).body.state).toBe('provisioning');
    const tl = (await call(t, 'GET', `/v1/machines/${b.machineId}/timeline`)).body;
    expect(tl.boots[0].outcome).toBe('abandoned');
  });

  it('says 410 rather than 401 for a finished boot whose token has also expired', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const siteId = await createSite(t);
    const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId } })).body;
    const token = 'ebc_testtokenfinishedandexpired0000';
    await insertBootRow(t.deps.db, { machineId: m.id, siteId, token, createdAt: clock.now(), expiresAt: clock.now() + 1000, state: 'succeeded' });
    clock.advance(2000);
    expect((await call(t, 'POST', '/v1/callback/started', { token })).status).toBe(410);
  });

  it('treats a boot row without expiry as never expiring, and consumes its one-shot on success', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const siteId = await createSite(t);
    const mac = randomMac();
    const m = (await call(t, 'POST', '/v1/machines', { json: { mac, siteId } })).body;
    const p = (await call(t, 'POST', '/v1/profiles', { json: { name: `p-${mac}`, spec: { kind: 'ipxe', script: '#!ipxe\nexit\n' } } })).body;
    const a = (await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { mac }, once: true } })).body;
    const token = 'ebc_testtokenwithoutexpiry000000000';
    await insertBootRow(t.deps.db, { machineId: m.id, siteId, token, createdAt: clock.now(), expiresAt: null, assignmentId: a.id, once: true });
    clock.advance(365 * 24 * 3600 * 1000);
    expect((await call(t, 'POST', '/v1/callback/succeeded', { token })).status).toBe(200);
    const rows = await t.deps.db.all(sql('SELECT assignment_id, machine_id FROM assignment_consumptions WHERE machine_id = ?', m.id));
    expect(rows.map((r) => ({ ...r }))).toEqual([{ assignment_id: a.id, machine_id: m.id }]);
    expect((await call(t, 'GET', `/v1/machines/${m.id}`)).body.state).toBe('deployed');
  });
});
