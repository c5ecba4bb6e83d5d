import { beforeAll, describe, expect, it } from 'vitest';
import { createSite } from '../fixtures.ts';
import { tamperCases } from '../files/tamper-cases.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

/**
 * Signed file URLs (`/v1/files/{imageId}?sig=…`) through fetch only, so it runs in every column:
 * in-process (memory store), workerd (R2 binding), Node entry (folder), Deno entry (S3 API).
 */

/** Recognisable bytes: a refusal must never carry any of them. */
function imageBytes(size: number): Uint8Array<ArrayBuffer> {
  const marker = new TextEncoder().encode(`EDGEBOOT-OBJECT-BYTES-${unique('m')}|`);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = marker[i % marker.length]!;
  return out;
}
const MARKER = 'EDGEBOOT-OBJECT-BYTES-';

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function image(t: ApiTarget, bytes?: Uint8Array<ArrayBuffer>): Promise<string> {
  const r = await call(t, 'POST', '/v1/images', { json: { name: unique('file'), contentType: 'application/x-test' } });
  expect(r.status).toBe(201);
  if (bytes) {
    const put = await call(t, 'PUT', `/v1/images/${r.body.id}/content`, {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    });
    expect(put.status, put.text).toBe(200);
  }
  return r.body.id;
}

/** A signed URL from the admin endpoint, as path + query (targets take paths). */
async function sign(t: ApiTarget, imageId: string, siteId: string, ttlSeconds?: number): Promise<{ target: string; token: string; expiresAt: string }> {
  const r = await call(t, 'POST', `/v1/images/${imageId}/signed-url`, { json: { siteId, ...(ttlSeconds ? { ttlSeconds } : {}) } });
  expect(r.status, r.text).toBe(200);
  const u = new URL(r.body.url);
  expect(u.pathname).toBe(`/v1/files/${imageId}`);
  return { target: u.pathname + u.search, token: u.searchParams.get('sig')!, expiresAt: r.body.expiresAt };
}

/** No bearer token: machines have none. */
async function fetchFile(t: ApiTarget, target: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const res = await t.fetch(target, { method: init.method ?? 'GET', headers: init.headers ?? {} });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, text: new TextDecoder().decode(bytes) };
}

function expectRefused(r: { res: Response; text: string }, status: number, what: string): void {
  expect(r.res.status, `${what}: ${r.text.slice(0, 200)}`).toBe(status);
  expect(r.text, what).not.toContain(MARKER);
  if (r.res.status !== 304 && r.text) {
    const body = JSON.parse(r.text);
    expect(errorCode({ status: r.res.status, headers: r.res.headers, body, text: r.text }), what).toBeTypeOf('string');
  }
}

export function filesContract(target: () => ApiTarget) {
  describe('signed file URLs', () => {
    const SIZE = 300_001;
    let t: ApiTarget;
    let site: string;
    let bytes: Uint8Array<ArrayBuffer>;
    let id: string;
    let url: string;
    beforeAll(async () => {
      t = target();
      site = await createSite(t, unique('files'));
      bytes = imageBytes(SIZE);
      id = await image(t, bytes);
      url = (await sign(t, id, site)).target;
    });

    it('streams the whole image with Content-Length, the sha256 ETag and Accept-Ranges, no bearer needed', async () => {
      const r = await fetchFile(t, url);
      expect(r.res.status).toBe(200);
      expect(r.res.headers.get('content-length')).toBe(String(SIZE));
      expect(r.res.headers.get('etag')).toBe(`"${await sha256(bytes)}"`);
      expect(r.res.headers.get('accept-ranges')).toBe('bytes');
      expect(r.res.headers.get('content-type')).toBe('application/x-test');
      expect(r.bytes.length).toBe(SIZE);
      expect(await sha256(r.bytes)).toBe(await sha256(bytes));
    });

    it('ignores a bearer token, even one that is not valid: the signature is the credential', async () => {
      const r = await fetchFile(t, url, { headers: { authorization: 'Bearer ebt_notatokenatall' } });
      expect(r.res.status).toBe(200);
      expect(r.bytes.length).toBe(SIZE);
    });

    it('answers HEAD with the headers of the GET and no body', async () => {
      const r = await fetchFile(t, url, { method: 'HEAD' });
      expect(r.res.status).toBe(200);
      expect(r.res.headers.get('content-length')).toBe(String(SIZE));
      expect(r.res.headers.get('etag')).toBe(`"${await sha256(bytes)}"`);
      expect(r.res.headers.get('accept-ranges')).toBe('bytes');
      expect(r.bytes.length).toBe(0);
      const ranged = await fetchFile(t, url, { method: 'HEAD', headers: { range: 'bytes=10-19' } });
      expect(ranged.res.status).toBe(206);
      expect(ranged.res.headers.get('content-range')).toBe(`bytes 10-19/${SIZE}`);
      expect(ranged.res.headers.get('content-length')).toBe('10');
      expect(ranged.bytes.length).toBe(0);
    });

    it('serves a byte range, a suffix range and an open-ended range with 206', async () => {
      for (const [range, first, last] of [
        ['bytes=100-199', 100, 199],
        ['bytes=-10', SIZE - 10, SIZE - 1],
        [`bytes=${SIZE - 5}-`, SIZE - 5, SIZE - 1],
        [`bytes=0-${SIZE * 2}`, 0, SIZE - 1],
      ] as const) {
        const r = await fetchFile(t, url, { headers: { range } });
        expect(r.res.status, range).toBe(206);
        expect(r.res.headers.get('content-range'), range).toBe(`bytes ${first}-${last}/${SIZE}`);
        expect(r.res.headers.get('content-length'), range).toBe(String(last - first + 1));
        expect([...r.bytes], range).toEqual([...bytes.subarray(first, last + 1)]);
      }
    });

    it('answers a list of ranges with the whole image (RFC 9110 §14.2 lets a server ignore Range)', async () => {
      const r = await fetchFile(t, url, { headers: { range: 'bytes=0-1,5-6' } });
      expect(r.res.status).toBe(200);
      expect(r.bytes.length).toBe(SIZE);
    });

    it('refuses a range past the end with 416 and Content-Range bytes */size', async () => {
      const r = await fetchFile(t, url, { headers: { range: `bytes=${SIZE}-` } });
      expectRefused(r, 416, 'range past the end');
      expect(r.res.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    });

    it('answers If-None-Match with 304 and a stale If-Range with the whole image', async () => {
      const etag = `"${await sha256(bytes)}"`;
      const same = await fetchFile(t, url, { headers: { 'if-none-match': etag } });
      expect(same.res.status).toBe(304);
      expect(same.bytes.length).toBe(0);
      const stale = await fetchFile(t, url, { headers: { range: 'bytes=0-9', 'if-range': '"0000"' } });
      expect(stale.res.status).toBe(200);
      expect(stale.bytes.length).toBe(SIZE);
      const fresh = await fetchFile(t, url, { headers: { range: 'bytes=0-9', 'if-range': etag } });
      expect(fresh.res.status).toBe(206);
    });

    it('refuses an image without bytes with 409, and a deleted image with 404', async () => {
      const pending = await image(t);
      expectRefused(await fetchFile(t, (await sign(t, pending, site)).target), 409, 'pending image');
      const gone = await image(t, imageBytes(100));
      const goneUrl = (await sign(t, gone, site)).target;
      expect((await fetchFile(t, goneUrl)).res.status).toBe(200);
      expect((await call(t, 'DELETE', `/v1/images/${gone}`)).status).toBe(204);
      expectRefused(await fetchFile(t, goneUrl), 404, 'deleted image');
    });

    it('signs for the requested lifetime, refuses unknown sites and lifetimes over 24 h', async () => {
      const before = Date.now();
      const s = await sign(t, id, site, 120);
      const expires = Date.parse(s.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 119_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 121_000);
      expect(Number(s.token.split('.')[2]) * 1000).toBe(expires);
      for (const json of [{ siteId: 'site_00000000000000000000000000' }, { siteId: site, ttlSeconds: 86_401 }, { siteId: site, ttlSeconds: 0 }]) {
        const r = await call(t, 'POST', `/v1/images/${id}/signed-url`, { json });
        expect(r.status, JSON.stringify(json)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
    });

    it('keeps URLs signed before a key rotation working, and lists keys without their secrets', async () => {
      const before = await sign(t, id, site);
      const rotated = await call(t, 'POST', '/v1/signing-keys/rotate');
      expect(rotated.status).toBe(201);
      expect(rotated.body).toMatchObject({ retiredAt: null });
      const after = await sign(t, id, site);
      expect(after.token.split('.')[1]).toBe(rotated.body.kid);
      expect(before.token.split('.')[1]).not.toBe(rotated.body.kid);
      expect((await fetchFile(t, before.target)).res.status).toBe(200);
      expect((await fetchFile(t, after.target)).res.status).toBe(200);

      const keys = await call(t, 'GET', '/v1/signing-keys');
      expect(keys.status).toBe(200);
      expect(keys.body.items[0]).toEqual({ kid: rotated.body.kid, createdAt: rotated.body.createdAt, retiredAt: null });
      const old = keys.body.items.find((k: { kid: string }) => k.kid === before.token.split('.')[1]);
      expect(old.retiredAt).not.toBeNull();
      for (const k of keys.body.items) expect(Object.keys(k).sort()).toEqual(['createdAt', 'kid', 'retiredAt']);
    });

    describe('tamper suite: every variant is refused with the envelope and none of the bytes', () => {
      let cases: ReturnType<typeof tamperCases> = [];
      beforeAll(async () => {
        const other = await image(t, imageBytes(1000));
        const ours = (await sign(t, id, site)).token;
        cases = tamperCases({ imageId: id, token: ours }, { imageId: other, token: (await sign(t, other, site)).token });
      });
      it('has at least 25 cases, and the untampered URL works', async () => {
        expect(cases.length).toBeGreaterThanOrEqual(25);
        expect((await fetchFile(t, url)).res.status).toBe(200);
      });
      it('refuses each one, for GET and for HEAD', async () => {
        for (const c of cases) {
          expectRefused(await fetchFile(t, c.target, { method: c.method }), c.status, c.name);
          if (c.method === 'GET') expect((await fetchFile(t, c.target, { method: 'HEAD' })).res.status, `HEAD ${c.name}`).toBe(c.status);
        }
      });
    });
  });
}
