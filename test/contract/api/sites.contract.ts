import { describe, expect, it } from 'vitest';
import { call, errorCode, unique, type ApiTarget, type CallResult } from '../target.ts';

export function sitesContract(target: () => ApiTarget) {
  describe('sites', () => {
    it('creates, reads, lists, renames and deletes a site', async () => {
      const t = target();
      const name = unique('branch');
      const created = await call(t, 'POST', '/v1/sites', { json: { name, description: 'Lyon office' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name, description: 'Lyon office', defaultProfileId: null });
      expect(created.body.id).toMatch(/^site_[0-9a-z]{26}$/);
      const id = created.body.id as string;

      const got = await call(t, 'GET', `/v1/sites/${id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);

      const listed = await call(t, 'GET', '/v1/sites?limit=500');
      expect(listed.status).toBe(200);
      expect(listed.body.items.map((s: { id: string }) => s.id)).toContain(id);

      const renamed = await call(t, 'PATCH', `/v1/sites/${id}`, { json: { name: `${name}-2` } });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({ id, name: `${name}-2`, description: 'Lyon office' });

      expect((await call(t, 'DELETE', `/v1/sites/${id}`)).status).toBe(204);
      const gone = await call(t, 'GET', `/v1/sites/${id}`);
      expect(gone.status).toBe(404);
      expect(errorCode(gone)).toBe('not_found');
    });

    it('pages through sites with a cursor', async () => {
      const t = target();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await call(t, 'POST', '/v1/sites', { json: { name: unique('page') } })).body.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r: CallResult = await call(t, 'GET', `/v1/sites?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...r.body.items.map((s: { id: string }) => s.id));
        cursor = r.body.nextCursor;
      } while (cursor);
      for (const id of ids) expect(seen).toContain(id);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('refuses a duplicate name with 409', async () => {
      const t = target();
      const name = unique('dup');
      expect((await call(t, 'POST', '/v1/sites', { json: { name } })).status).toBe(201);
      const again = await call(t, 'POST', '/v1/sites', { json: { name } });
      expect(again.status).toBe(409);
      expect(errorCode(again)).toBe('conflict');
    });

    it('refuses a default profile that does not exist', async () => {
      const r = await call(target(), 'POST', '/v1/sites', { json: { name: unique('x'), defaultProfileId: 'prf_nope' } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('validation_failed');
    });
  });
}
