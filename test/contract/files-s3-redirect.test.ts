import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ObjectStore } from '../../cloud/src/adapters/s3-object-store.ts';
import { startLocalS3 } from '../support/miniflare-s3.ts';
import { inProcessTarget } from '../support/in-process.ts';
import { createSite } from './fixtures.ts';
import { call, unique, type ApiTarget } from './target.ts';

/**
 * A deployment on S3 that opts in (`redirectFilesToStore`) answers a verified file GET with a 302
 * to a SigV4 presigned URL, against Miniflare's local R2 S3 API: following it must give the bytes
 * and honour Range; the presigned lifetime is capped by the token's and by 15 minutes.
 */
describe('signed file URLs redirected to presigned S3 URLs', () => {
  let s3: Awaited<ReturnType<typeof startLocalS3>>;
  let t: ApiTarget;
  let id: string;
  let site: string;
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

  const signed = async (ttlSeconds: number) => {
    const r = await call(t, 'POST', `/v1/images/${id}/signed-url`, { json: { siteId: site, ttlSeconds } });
    expect(r.status).toBe(200);
    const u = new URL(r.body.url);
    return u.pathname + u.search;
  };
  const redirect = async (path: string) => {
    const res = await t.fetch(path, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return new URL(res.headers.get('location')!);
  };

  beforeAll(async () => {
    s3 = await startLocalS3(`files-${Date.now().toString(36)}`);
    t = inProcessTarget({ objects: s3ObjectStore(s3.config), redirectFilesToStore: true });
    site = await createSite(t, unique('s3'));
    id = (await call(t, 'POST', '/v1/images', { json: { name: unique('s3-img') } })).body.id;
    const put = await call(t, 'PUT', `/v1/images/${id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
    expect(put.status, put.text).toBe(200);
  });
  afterAll(async () => {
    await s3?.dispose();
  });

  it('redirects to a presigned URL that yields the bytes, and byte ranges of them', async () => {
    const location = await redirect(await signed(3600));
    expect(location.href.startsWith(s3.config.endpoint)).toBe(true);
    expect(location.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    const whole = await fetch(location);
    expect(whole.status).toBe(200);
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(bytes);
    const part = await fetch(location, { headers: { range: 'bytes=1000-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1099/${bytes.length}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(1000, 1100));
  });

  it('caps the presigned lifetime at 15 minutes and at what is left of the token', async () => {
    expect((await redirect(await signed(3600))).searchParams.get('X-Amz-Expires')).toBe('900');
    const short = Number((await redirect(await signed(120))).searchParams.get('X-Amz-Expires'));
    expect(short).toBeGreaterThanOrEqual(119);
    expect(short).toBeLessThanOrEqual(120);
  });

  it('is a real signature: the store refuses the URL with its signature changed', async () => {
    const location = await redirect(await signed(600));
    const sig = location.searchParams.get('X-Amz-Signature')!;
    location.searchParams.set('X-Amz-Signature', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    const res = await fetch(location);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(String.fromCharCode(...bytes.subarray(0, 16)));
  });

  it('answers HEAD itself, with the sha256 ETag, and never redirects a refused token', async () => {
    const path = await signed(600);
    const head = await t.fetch(path, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
    const tampered = await t.fetch(path.replace(/sig=v1\.[a-z0-9-]+\.(\d)/, (m, d) => m.slice(0, -1) + ((Number(d) + 1) % 10)), { redirect: 'manual' });
    expect(tampered.status).toBe(403);
    expect(tampered.headers.get('location')).toBeNull();
  });
});
