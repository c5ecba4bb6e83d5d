import { describe, expect, it } from 'vitest';
import { inProcessTarget, manualClock } from '../support/in-process.ts';
import { call, errorCode } from './target.ts';

// Limits that depend on the deployment (AppDeps.maxUploadBytes) or on a request no fetch() client
// can produce (a body without Content-Length), so they are checked in-process only.
describe('image upload limits (in-process)', () => {
  const t = inProcessTarget({ maxUploadBytes: 1000 });
  const image = async () => (await call(t, 'POST', '/v1/images', { json: { name: `lim-${crypto.randomUUID()}` } })).body.id as string;

  it('answers 411 to an upload without Content-Length', async () => {
    const id = await image();
    const r = await call(t, 'PUT', `/v1/images/${id}/content`, { body: new Uint8Array(10) });
    expect(r.status).toBe(411);
    expect(errorCode(r)).toBe('length_required');
  });

  it('answers 413 to a single upload over the per-request limit, pointing to multipart', async () => {
    const id = await image();
    const r = await call(t, 'PUT', `/v1/images/${id}/content`, { body: new Uint8Array(1001), headers: { 'content-length': '1001' } });
    expect(r.status).toBe(413);
    expect(errorCode(r)).toBe('payload_too_large');
    expect(r.body.error.message).toMatch(/multipart/);
    expect((await call(t, 'PUT', `/v1/images/${id}/content`, { body: new Uint8Array(1000), headers: { 'content-length': '1000' } })).status).toBe(200);
  });

  it('refuses a part size over the per-request limit', async () => {
    const r = await call(t, 'POST', `/v1/images/${await image()}/uploads`, { json: { size: 20 * 1024 * 1024, partSize: 5 * 1024 * 1024 } });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([{ path: 'partSize', message: 'at most 1000' }]);
  });

  it('refuses a body longer than its Content-Length says, keeping nothing', async () => {
    const id = await image();
    const r = await call(t, 'PUT', `/v1/images/${id}/content`, { body: new Uint8Array(20), headers: { 'content-length': '10' } });
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('size_mismatch');
    expect((await call(t, 'GET', `/v1/images/${id}`)).body.status).toBe('pending');
    expect(await t.deps.objects.head(`images/${id}`)).toBeNull();
  });

  it('writes the change and its audit row together', async () => {
    const id = await image();
    expect((await call(t, 'PUT', `/v1/images/${id}/content`, { body: new Uint8Array(5), headers: { 'content-length': '5' } })).status).toBe(200);
    const rows = await t.deps.db.all<{ action: string; result: string; status: number }>({
      sql: 'SELECT action, result, status FROM audit_log WHERE target = ? ORDER BY id',
      params: [id],
    });
    expect(rows).toEqual([
      { action: 'POST /v1/images', result: 'ok', status: 201 },
      { action: `PUT /v1/images/${id}/content`, result: 'ok', status: 200 },
    ]);
  });
});

describe('abandoned multipart uploads (in-process, manual clock)', () => {
  it('blocks a second upload while open, and gives way once expired', async () => {
    const clock = manualClock();
    const t = inProcessTarget({ clock });
    const id = (await call(t, 'POST', '/v1/images', { json: { name: `abandoned-${crypto.randomUUID()}` } })).body.id as string;
    const plan = { size: 12 * 1024 * 1024, partSize: 5 * 1024 * 1024 };
    const first = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: plan });
    expect(first.status).toBe(201);
    expect((await call(t, 'POST', `/v1/images/${id}/uploads`, { json: plan })).status).toBe(409);

    clock.advance(7 * 86_400_000);
    const second = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: plan });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
    expect((await call(t, 'GET', `/v1/images/${id}/uploads/${first.body.id}`)).status).toBe(404);
  });
});
