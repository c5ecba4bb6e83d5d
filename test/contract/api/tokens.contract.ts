import { describe, expect, it } from 'vitest';
import { createSite, createToken } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

export function tokensContract(target: () => ApiTarget) {
  describe('tokens', () => {
    it('shows a new secret once, stores only its prefix, and the secret works with its scope', async () => {
      const t = target();
      const [own, other] = [await createSite(t), await createSite(t)];
      const created = await call(t, 'POST', '/v1/tokens', { json: { name: unique('ops'), role: 'operator', siteIds: [own] } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ role: 'operator', siteIds: [own], relayId: null, expiresAt: null, revokedAt: null });
      const secret = created.body.token as string;
      expect(secret).toMatch(/^ebt_[0-9a-z]{32}$/);
      expect(secret.startsWith(created.body.prefix)).toBe(true);
      expect(created.body.prefix.length).toBeLessThan(secret.length / 2);

      const got = await call(t, 'GET', `/v1/tokens/${created.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).not.toHaveProperty('token');
      expect(got.text).not.toContain(secret);
      const listed = await call(t, 'GET', '/v1/tokens?limit=500');
      expect(listed.text).not.toContain(secret);

      expect((await call(t, 'GET', `/v1/sites/${own}`, { token: secret })).status).toBe(200);
      expect((await call(t, 'GET', `/v1/sites/${other}`, { token: secret })).status).toBe(404);
    });

    it('records when a token was last used', async () => {
      const t = target();
      const issued = await createToken(t, { role: 'viewer' });
      expect((await call(t, 'GET', `/v1/tokens/${issued.id}`)).body.lastUsedAt).toBeNull();
      expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
      expect((await call(t, 'GET', `/v1/tokens/${issued.id}`)).body.lastUsedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    });

    it('sets expiresAt from expiresInSeconds', async () => {
      const t = target();
      const before = Date.now();
      const r = await call(t, 'POST', '/v1/tokens', { json: { name: unique('short'), role: 'viewer', expiresInSeconds: 3600 } });
      expect(r.status).toBe(201);
      const expiresAt = Date.parse(r.body.expiresAt);
      // Columns run on other clocks (workerd freezes time during a request): allow a minute either way.
      expect(Math.abs(expiresAt - (before + 3600_000))).toBeLessThan(60_000);
    });

    it('refuses a revoked token with 401 "token revoked" and shows when it was revoked', async () => {
      const t = target();
      const issued = await createToken(t, { role: 'admin' });
      expect((await call(t, 'GET', '/v1/sites', { token: issued.token })).status).toBe(200);
      expect((await call(t, 'DELETE', `/v1/tokens/${issued.id}`)).status).toBe(204);
      const refused = await call(t, 'GET', '/v1/sites', { token: issued.token });
      expect(refused.status).toBe(401);
      expect(errorCode(refused)).toBe('unauthorized');
      expect(refused.body.error.message).toBe('token revoked');
      const got = await call(t, 'GET', `/v1/tokens/${issued.id}`);
      expect(got.body.revokedAt).not.toBeNull();
      // Revoking again keeps the first time.
      expect((await call(t, 'DELETE', `/v1/tokens/${issued.id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/tokens/${issued.id}`)).body.revokedAt).toBe(got.body.revokedAt);
    });

    it('refuses an operator token without sites', async () => {
      const r = await call(target(), 'POST', '/v1/tokens', { json: { name: unique('op'), role: 'operator' } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
      expect(r.body.error.issues[0].path).toBe('siteIds');
    });

    it('refuses siteIds that name no site, and creates nothing', async () => {
      const t = target();
      const name = unique('ghost');
      const site = await createSite(t);
      const r = await call(t, 'POST', '/v1/tokens', { json: { name, role: 'viewer', siteIds: [site, 'site_00000000000000000000000000'] } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
      expect(r.body.error.message).toContain('site_00000000000000000000000000');
      expect((await call(t, 'GET', '/v1/tokens?limit=500')).body.items.map((x: { name: string }) => x.name)).not.toContain(name);
    });

    it('refuses siteIds on an admin token', async () => {
      const t = target();
      const r = await call(t, 'POST', '/v1/tokens', { json: { name: unique('adm'), role: 'admin', siteIds: [await createSite(t)] } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
    });

    it('refuses to mint relay tokens directly (they come from enrollment)', async () => {
      const t = target();
      const r = await call(t, 'POST', '/v1/tokens', { json: { name: unique('rly'), role: 'relay', siteIds: [await createSite(t)] } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
    });

    it('answers 404 for an unknown token id', async () => {
      const t = target();
      for (const method of ['GET', 'DELETE']) {
        const r = await call(t, method, '/v1/tokens/tok_00000000000000000000000000');
        expect(r.status).toBe(404);
        expect(errorCode(r)).toBe('not_found');
      }
    });

    it('pages through tokens with a cursor', async () => {
      const t = target();
      const ids = [(await createToken(t, { role: 'viewer' })).id, (await createToken(t, { role: 'viewer' })).id, (await createToken(t, { role: 'viewer' })).id];
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r: { status: number; body: any } = await call(t, 'GET', `/v1/tokens?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        seen.push(...r.body.items.map((x: { id: string }) => x.id));
        cursor = r.body.nextCursor;
      } while (cursor);
      for (const id of ids) expect(seen).toContain(id);
      expect(new Set(seen).size).toBe(seen.length);
    });
  });
}
