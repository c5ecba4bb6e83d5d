import { expect } from 'vitest';
import { call, unique } from '../target.ts';
import { adminOnly, anyPerson, type Req, type Row, type World } from './matrix.ts';

/** Ten bytes with their length stated, as an HTTP client sends them (in-process Requests add none). */
const BYTES = '0123456789';
const octets = (method: string, path: string): Req => ({
  method,
  path,
  body: BYTES,
  headers: { 'content-type': 'application/octet-stream', 'content-length': String(BYTES.length) },
});

async function admin(w: World, req: Req, status: number): Promise<any> {
  const r = await call(w.t, req.method, req.path, { json: req.json, body: req.body, headers: req.headers });
  if (r.status !== status) throw new Error(`setup: ${req.method} ${req.path} gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

const image = async (w: World): Promise<string> => (await admin(w, { method: 'POST', path: '/v1/images', json: { name: unique('authz-img') } }, 201)).id;
const readyImage = async (w: World): Promise<string> => {
  const id = await image(w);
  await admin(w, octets('PUT', `/v1/images/${id}/content`), 200);
  return id;
};
/** An image with an open one-part upload of ten bytes (a last part may be under 5 MiB). */
const upload = async (w: World): Promise<{ id: string; up: string }> => {
  const id = await image(w);
  const started = await admin(w, { method: 'POST', path: `/v1/images/${id}/uploads`, json: { size: BYTES.length } }, 201);
  return { id, up: `/v1/images/${id}/uploads/${started.id}` };
};
const statusOf = async (w: World, id: string): Promise<string> => (await call(w.t, 'GET', `/v1/images/${id}`)).body.status;

/** Images are a global catalog: every person reads records, only admins change them or read bytes. */
export const imageRows: Row[] = [
  { route: 'GET /v1/images', sites: 'none', expect: anyPerson(200), request: () => ({ method: 'GET', path: '/v1/images' }) },
  {
    route: 'POST /v1/images',
    sites: 'none',
    expect: adminOnly(201),
    setup: async () => unique('authz-img'),
    request: (_w, _s, name: string) => ({ method: 'POST', path: '/v1/images', json: { name } }),
    after: async (w, _s, name: string, { ok }) => {
      const names = (await call(w.t, 'GET', '/v1/images?limit=500')).body.items.map((i: { name: string }) => i.name);
      expect(names.includes(name)).toBe(ok);
    },
  },
  { route: 'GET /v1/images/{id}', sites: 'none', expect: anyPerson(200), setup: image, request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/images/${id}` }) },
  {
    route: 'PATCH /v1/images/{id}',
    sites: 'none',
    expect: adminOnly(200),
    setup: image,
    request: (_w, _s, id: string) => ({ method: 'PATCH', path: `/v1/images/${id}`, json: { arch: 'arm64' } }),
    after: async (w, _s, id: string, { ok }) => expect((await call(w.t, 'GET', `/v1/images/${id}`)).body.arch).toBe(ok ? 'arm64' : 'any'),
  },
  {
    route: 'DELETE /v1/images/{id}',
    sites: 'none',
    expect: adminOnly(204),
    setup: image,
    request: (_w, _s, id: string) => ({ method: 'DELETE', path: `/v1/images/${id}` }),
    after: async (w, _s, id: string, { ok }) => expect((await call(w.t, 'GET', `/v1/images/${id}`)).status).toBe(ok ? 404 : 200),
  },
  {
    route: 'PUT /v1/images/{id}/content',
    sites: 'none',
    expect: adminOnly(200),
    setup: image,
    request: (_w, _s, id: string) => octets('PUT', `/v1/images/${id}/content`),
    after: async (w, _s, id: string, { ok }) => expect(await statusOf(w, id)).toBe(ok ? 'ready' : 'pending'),
  },
  {
    route: 'GET /v1/images/{id}/content',
    sites: 'none',
    expect: adminOnly(200),
    setup: readyImage,
    request: (_w, _s, id: string) => ({ method: 'GET', path: `/v1/images/${id}/content` }),
    after: async (_w, _s, _id, { ok, res }) => {
      if (ok) expect(res.text).toBe(BYTES);
    },
  },
  {
    route: 'POST /v1/images/{id}/uploads',
    sites: 'none',
    expect: adminOnly(201),
    setup: image,
    request: (_w, _s, id: string) => ({ method: 'POST', path: `/v1/images/${id}/uploads`, json: { size: 10 } }),
    after: async (w, _s, id: string, { ok }) => expect(await statusOf(w, id)).toBe(ok ? 'uploading' : 'pending'),
  },
  { route: 'GET /v1/images/{id}/uploads/{uploadId}', sites: 'none', expect: anyPerson(200), setup: upload, request: (_w, _s, u: { up: string }) => ({ method: 'GET', path: u.up }) },
  {
    route: 'PUT /v1/images/{id}/uploads/{uploadId}/parts/{n}',
    sites: 'none',
    expect: adminOnly(200),
    setup: upload,
    request: (_w, _s, u: { up: string }) => octets('PUT', `${u.up}/parts/1`),
    after: async (w, _s, u: { up: string }, { ok }) => expect((await call(w.t, 'GET', u.up)).body.partsDone).toBe(ok ? 1 : 0),
  },
  {
    route: 'POST /v1/images/{id}/uploads/{uploadId}/complete',
    sites: 'none',
    expect: adminOnly(200),
    setup: async (w) => {
      const u = await upload(w);
      await admin(w, octets('PUT', `${u.up}/parts/1`), 200);
      return u;
    },
    request: (_w, _s, u: { up: string }) => ({ method: 'POST', path: `${u.up}/complete` }),
    after: async (w, _s, u: { id: string }, { ok }) => expect(await statusOf(w, u.id)).toBe(ok ? 'ready' : 'uploading'),
  },
  {
    route: 'DELETE /v1/images/{id}/uploads/{uploadId}',
    sites: 'none',
    expect: adminOnly(204),
    setup: upload,
    request: (_w, _s, u: { up: string }) => ({ method: 'DELETE', path: u.up }),
    after: async (w, _s, u: { up: string }, { ok }) => expect((await call(w.t, 'GET', u.up)).status).toBe(ok ? 404 : 200),
  },
];
