import { expect } from 'vitest';
import { call, unique } from '../target.ts';
import { adminOnly, type Expect, type Row, type World } from './matrix.ts';

const BYTES = '0123456789';

async function admin(w: World, method: string, path: string, init: { json?: unknown; body?: string; headers?: Record<string, string> } = {}, status = 200): Promise<any> {
  const r = await call(w.t, method, path, init);
  if (r.status !== status) throw new Error(`setup: ${method} ${path} gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

/** A ready image of ten bytes and a signed URL of it (path + query) for site A. */
async function signedFile(w: World): Promise<string> {
  const { id } = await admin(w, 'POST', '/v1/images', { json: { name: unique('authz-file') } }, 201);
  await admin(w, 'PUT', `/v1/images/${id}/content`, { body: BYTES, headers: { 'content-type': 'application/octet-stream', 'content-length': String(BYTES.length) } });
  const { url } = await admin(w, 'POST', `/v1/images/${id}/signed-url`, { json: { siteId: w.sites.A } });
  const u = new URL(url);
  return u.pathname + u.search;
}

/** The signature is the credential: whatever bearer token comes along (none, revoked, garbage) is ignored. */
const bySignature = (ok: number): Expect => ({
  admin: ok,
  operatorOwn: ok,
  operatorOther: ok,
  viewerAll: ok,
  viewerOwn: ok,
  viewerOther: ok,
  relayOwn: ok,
  relayOther: ok,
  anonymous: ok,
  revoked: ok,
  garbage: ok,
});

const activeKid = async (w: World): Promise<string> => (await admin(w, 'GET', '/v1/signing-keys')).items.find((k: { retiredAt: null }) => k.retiredAt === null)?.kid;

/** Signed file URLs, the signing endpoint and the signing keys. Refusals of bad signatures are in the files tamper suite. */
export const fileRows: Row[] = [
  {
    route: 'GET /v1/files/{imageId}',
    sites: 'none',
    expect: bySignature(200),
    setup: signedFile,
    request: (_w, _s, path: string) => ({ method: 'GET', path }),
    after: async (_w, _s, _p, { res }) => expect(res.text).toBe(BYTES),
  },
  {
    route: 'HEAD /v1/files/{imageId}',
    sites: 'none',
    expect: bySignature(200),
    setup: signedFile,
    request: (_w, _s, path: string) => ({ method: 'HEAD', path }),
    after: async (_w, _s, _p, { res }) => expect(res.headers.get('content-length')).toBe(String(BYTES.length)),
  },
  {
    route: 'POST /v1/images/{id}/signed-url',
    sites: 'none',
    expect: adminOnly(200),
    setup: async (w) => (await admin(w, 'POST', '/v1/images', { json: { name: unique('authz-sign') } }, 201)).id,
    request: (w, _s, id: string) => ({ method: 'POST', path: `/v1/images/${id}/signed-url`, json: { siteId: w.sites.A } }),
    after: async (_w, _s, id: string, { ok, res }) => {
      if (ok) expect(new URL(res.body.url).pathname).toBe(`/v1/files/${id}`);
      else expect(res.text).not.toContain('sig=');
    },
  },
  { route: 'GET /v1/signing-keys', sites: 'none', expect: adminOnly(200), request: () => ({ method: 'GET', path: '/v1/signing-keys' }) },
  {
    route: 'POST /v1/signing-keys/rotate',
    sites: 'none',
    expect: adminOnly(201),
    setup: activeKid,
    request: () => ({ method: 'POST', path: '/v1/signing-keys/rotate' }),
    after: async (w, _s, before: string | undefined, { ok, res }) => expect(await activeKid(w)).toBe(ok ? res.body.kid : before),
  },
];
