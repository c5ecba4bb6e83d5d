import { describe, expect, it } from 'vitest';
import { createSite, createToken, garbageToken } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  siteId: string | null;
  result: string;
  status: number;
  requestId: string;
}

async function entries(t: ApiTarget, query: string): Promise<Entry[]> {
  const r = await call(t, 'GET', `/v1/audit?limit=500&${query}`);
  expect(r.status).toBe(200);
  return r.body.items;
}

export function auditContract(target: () => ApiTarget) {
  describe('audit log', () => {
    it('records who changed what, with the request id', async () => {
      const t = target();
      const admin = await createToken(t, { role: 'admin' });
      const created = await call(t, 'POST', '/v1/sites', { token: admin.token, json: { name: unique('audited') } });
      expect(created.status).toBe(201);
      const [entry] = await entries(t, `target=${created.body.id}`);
      expect(entry).toMatchObject({
        actor: admin.id,
        action: 'POST /v1/sites',
        target: created.body.id,
        siteId: created.body.id,
        result: 'ok',
        status: 201,
        requestId: created.headers.get('x-request-id'),
      });
    });

    it('records refused mutations: wrong role, no token, bad token', async () => {
      const t = target();
      const viewer = await createToken(t, { role: 'viewer' });
      const cases = [
        { token: viewer.token, status: 403, actor: viewer.id, result: 'forbidden' },
        { token: null, status: 401, actor: 'anonymous', result: 'unauthorized' },
        { token: garbageToken(), status: 401, actor: 'anonymous', result: 'unauthorized' },
      ];
      for (const c of cases) {
        const r = await call(t, 'POST', '/v1/sites', { token: c.token, json: { name: unique('nope') } });
        expect(r.status).toBe(c.status);
        const found = (await entries(t, `actor=${c.actor}`)).find((e) => e.requestId === r.headers.get('x-request-id'));
        expect(found).toMatchObject({ action: 'POST /v1/sites', result: c.result, status: c.status, target: null });
      }
    });

    it('does not record reads', async () => {
      const t = target();
      const r = await call(t, 'GET', '/v1/sites');
      const all = await entries(t, '');
      expect(all.find((e) => e.requestId === r.headers.get('x-request-id'))).toBeUndefined();
    });

    it('filters by site and time, newest first, paging with a cursor', async () => {
      const t = target();
      const site = await createSite(t);
      for (let i = 0; i < 3; i++) expect((await call(t, 'PATCH', `/v1/sites/${site}`, { json: { description: `v${i}` } })).status).toBe(200);
      const bySite = await entries(t, `siteId=${site}`);
      expect(bySite).toHaveLength(4);
      expect(bySite.map((e) => e.action)).toEqual([...Array(3).fill(`PATCH /v1/sites/${site}`), 'POST /v1/sites']);
      const ids = bySite.map((e) => e.id);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);

      const paged: number[] = [];
      let cursor: string | null = null;
      do {
        const r: { status: number; body: any } = await call(t, 'GET', `/v1/audit?siteId=${site}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        paged.push(...r.body.items.map((e: Entry) => e.id));
        cursor = r.body.nextCursor;
      } while (cursor);
      expect(paged).toEqual(ids);

      const future = new Date(Date.now() + 86400_000).toISOString();
      expect(await entries(t, `siteId=${site}&since=${future}`)).toEqual([]);
      expect(await entries(t, `siteId=${site}&since=${bySite[3]!.at}`)).toHaveLength(4);
    });

    it('refuses a malformed cursor or since with 400', async () => {
      const t = target();
      for (const q of ['cursor=abc', 'cursor=-1', 'since=yesterday', 'limit=0', 'colour=blue']) {
        const r = await call(t, 'GET', `/v1/audit?${q}`);
        expect(r.status, q).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
    });
  });
}
