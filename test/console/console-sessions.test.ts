/**
 * Session lifetimes, in process with a clock the test moves: idle and absolute expiry, the sliding
 * idle window, an expiring token, and a changed bootstrap secret all end the session.
 */
import { describe, expect, it } from 'vitest';
import { ABSOLUTE_MS, IDLE_MS } from '../../cloud/src/console/session.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { createToken } from '../contract/fixtures.ts';
import { inProcessTarget, manualClock } from '../support/in-process.ts';
import { consoleClient } from './support.ts';

function setup() {
  const clock = manualClock(Date.now());
  const t = inProcessTarget({ clock });
  const client = () => consoleClient('http://localhost', (p, i) => t.fetch(p, i));
  return { clock, t, client };
}

describe('console sessions', () => {
  it('stores only a hash of the session id, and ends a session left idle', async () => {
    const { clock, t, client } = setup();
    const c = client();
    await c.signIn(t.adminToken);
    const rows = await t.deps.db.all<{ id_hash: string; token_id: string }>(sql('SELECT id_hash, token_id FROM console_sessions'));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id_hash).not.toContain(c.cookie!);
    expect(rows[0]!.token_id).toBe('bootstrap');
    clock.advance(IDLE_MS - 60_000);
    expect((await c.get('/console')).status).toBe(200);
    // Used just now: the idle window slid forward.
    clock.advance(IDLE_MS - 60_000);
    expect((await c.get('/console')).status).toBe(200);
    clock.advance(IDLE_MS + 1);
    const r = await c.get('/console');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/sign-in?ended');
    expect(await t.deps.db.all(sql('SELECT id_hash FROM console_sessions'))).toEqual([]);
  });

  it('ends even a busy session at its absolute lifetime', async () => {
    const { clock, t, client } = setup();
    const c = client();
    await c.signIn(t.adminToken);
    for (let at = 0; at < ABSOLUTE_MS - IDLE_MS / 2; at += IDLE_MS / 2) {
      clock.advance(IDLE_MS / 2);
      expect((await c.get('/console')).status).toBe(200);
    }
    clock.set(clock.now() + IDLE_MS / 2);
    expect((await c.get('/console')).status).toBe(303);
  });

  it('ends when its token expires', async () => {
    const { clock, t, client } = setup();
    const token = await createToken(t, { role: 'viewer', expiresInSeconds: 120 });
    const c = client();
    expect((await c.signIn(token.token)).status).toBe(303);
    expect((await c.get('/console')).status).toBe(200);
    clock.advance(121_000);
    expect((await c.get('/console')).location).toBe('/console/sign-in?ended');
  });

  it('ends a bootstrap-admin session when the configured secret changes', async () => {
    const { t, client } = setup();
    const c = client();
    await c.signIn(t.adminToken);
    expect((await c.get('/console')).status).toBe(200);
    t.deps.bootstrapAdminToken = 'ebt_anothersecretaltogether000000000';
    expect((await c.get('/console')).status).toBe(303);
  });

  it('refuses a forged or malformed cookie without a lookup error', async () => {
    const { client } = setup();
    for (const cookie of ['a'.repeat(32), '../../etc', 'x'.repeat(5000), '']) {
      const c = client();
      c.cookie = cookie;
      const r = await c.get('/console');
      expect(r.status).toBe(303);
      expect(r.location).toMatch(/^\/console\/sign-in/);
    }
  });
});
