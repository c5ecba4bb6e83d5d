import { describe, expect, it } from 'vitest';
import { createFirstAdminToken } from '../../cloud/src/auth/bootstrap.ts';
import { manualClock, inProcessTarget } from '../support/in-process.ts';
import { createSite, createToken, enrollmentCode } from './fixtures.ts';
import { call, errorCode, unique } from './target.ts';

/** What needs a moving clock runs in-process only; the contract columns cannot move theirs. */
describe('access control over time (in-process, manual clock)', () => {
  it('refuses a token from its expiry instant on, with 401 "token expired"', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const issued = await createToken(t, { role: 'viewer', expiresInSeconds: 60 });
    clock.advance(59_999);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    clock.advance(1);
    const r = await call(t, 'GET', '/v1/sites', { token: issued.token });
    expect(r.status).toBe(401);
    expect(errorCode(r)).toBe('unauthorized');
    expect(r.body.error.message).toBe('token expired');
  });

  it('refuses an expired enrollment code with 410 and enrolls nothing', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const site = await createSite(t);
    const code = (await call(t, 'POST', `/v1/sites/${site}/enrollment-codes`, { json: { expiresInSeconds: 600 } })).body.code;
    clock.advance(600_000);
    const r = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('late') } });
    expect(r.status).toBe(410);
    expect(errorCode(r)).toBe('gone');
    expect(r.body.error.message).toBe('enrollment code expired');
    expect((await call(t, 'GET', `/v1/relays?siteId=${site}`)).body.items).toEqual([]);
  });

  it('gives enrollment codes one hour by default', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const site = await createSite(t);
    const r = await call(t, 'POST', `/v1/sites/${site}/enrollment-codes`);
    expect(r.status).toBe(201);
    expect(Date.parse(r.body.expiresAt)).toBe(clock.now() + 3600_000);
    const code = await enrollmentCode(t, site);
    clock.advance(3600_000 - 1);
    expect((await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('r') } })).status).toBe(201);
  });

  it('writes last_used_at at most once a minute per token', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const issued = await createToken(t, { role: 'viewer' });
    const lastUsed = async () => (await call(t, 'GET', `/v1/tokens/${issued.id}`)).body.lastUsedAt;
    await call(t, 'GET', '/v1/sites', { token: issued.token });
    const first = await lastUsed();
    expect(first).toBe(new Date(clock.now()).toISOString());
    clock.advance(59_000);
    await call(t, 'GET', '/v1/sites', { token: issued.token });
    expect(await lastUsed()).toBe(first);
    clock.advance(1_000);
    await call(t, 'GET', '/v1/sites', { token: issued.token });
    expect(await lastUsed()).toBe(new Date(clock.now()).toISOString());
  });
});

describe('audit log storage', () => {
  it('refuses UPDATE and DELETE on audit_log', async () => {
    const t = inProcessTarget();
    await createSite(t);
    const db = t.deps.db;
    await expect(db.batch([{ sql: "UPDATE audit_log SET result = 'x'", params: [] }])).rejects.toThrow(/append-only/);
    await expect(db.batch([{ sql: 'DELETE FROM audit_log', params: [] }])).rejects.toThrow(/append-only/);
    expect((await db.first<{ n: number }>({ sql: 'SELECT count(*) AS n FROM audit_log', params: [] }))!.n).toBeGreaterThan(0);
  });
});

describe('first admin token', () => {
  it('is created once, works as admin, and its actions are audited under its id', async () => {
    const t = inProcessTarget({ bootstrapAdminToken: undefined });
    const secret = await createFirstAdminToken(t.deps.db, Date.now());
    expect(secret).toMatch(/^ebt_[0-9a-z]{32}$/);
    expect(await createFirstAdminToken(t.deps.db, Date.now())).toBeNull();
    const created = await call(t, 'POST', '/v1/tokens', { token: secret, json: { name: 'ops', role: 'viewer' } });
    expect(created.status).toBe(201);
    const tokens = (await call(t, 'GET', '/v1/tokens', { token: secret })).body.items as { id: string; name: string }[];
    const first = tokens.find((x) => x.name === 'first-admin')!;
    expect(first).toMatchObject({ role: 'admin', siteIds: null });
    const audit = (await call(t, 'GET', `/v1/audit?target=${created.body.id}`, { token: secret })).body.items;
    expect(audit).toMatchObject([{ actor: first.id, action: 'POST /v1/tokens', result: 'ok', status: 201 }]);
  });
});
