import { describe, expect, it } from 'vitest';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { manualClock, inProcessTarget } from '../support/in-process.ts';
import { createSite, createToken, enrollRelay } from './fixtures.ts';
import { call } from './target.ts';

/** Resolved tokens are cached for 5 s per app instance (auth/principal-cache.ts). */
describe('token cache', () => {
  it('refuses a token revoked through the API at once, even right after it was used', async () => {
    const t = inProcessTarget();
    const issued = await createToken(t, { role: 'viewer' });
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    expect((await call(t, 'DELETE', `/v1/tokens/${issued.id}`)).status).toBe(204);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(401);
  });

  it('refuses a relay token at once when its relay is revoked', async () => {
    const t = inProcessTarget();
    const relay = await enrollRelay(t, await createSite(t));
    expect((await call(t, 'GET', '/v1/relay/self', { token: relay.token })).status).toBe(200);
    expect((await call(t, 'DELETE', `/v1/relays/${relay.relayId}`)).status).toBe(204);
    expect((await call(t, 'GET', '/v1/relay/self', { token: relay.token })).status).toBe(401);
  });

  it('honours a revocation made elsewhere (another instance) within 5 s', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const issued = await createToken(t, { role: 'viewer' });
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    // Another process or isolate revokes it: this instance's cache is not told.
    await t.deps.db.batch([sql('UPDATE tokens SET revoked_at = ? WHERE id = ?', clock.now(), issued.id)]);
    clock.advance(4_999);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    clock.advance(1);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(401);
  });

  it('still checks the token expiry on every use of a cached token', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const issued = await createToken(t, { role: 'viewer', expiresInSeconds: 60 });
    clock.advance(59_000);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    clock.advance(1_000);
    expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(401);
  });
});

describe('token cache and last_used_at', () => {
  it('writes last_used_at once for a burst of requests, not once per cache fill', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const issued = await createToken(t, { role: 'viewer' });
    const writes: string[] = [];
    const batch = t.deps.db.batch.bind(t.deps.db);
    t.deps.db.batch = async (statements) => {
      for (const s of statements) if (s.sql.startsWith('UPDATE tokens SET last_used_at')) writes.push(s.sql);
      return batch(statements);
    };
    for (let i = 0; i < 5; i++) expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
    expect(writes).toHaveLength(1);
  });
});
