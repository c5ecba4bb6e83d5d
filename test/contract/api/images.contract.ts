import { describe, expect, it } from 'vitest';
import { createSite, createToken, enrollRelay } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

/** R2 and S3 refuse parts under 5 MiB except the last. */
const PART = 5 * 1024 * 1024;

function bytesOf(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed * 7 + (i >>> 9)) & 0xff;
  return out;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetches raw bytes: `call` reads bodies as text. */
async function download(t: ApiTarget, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await t.fetch(path, { method, headers: { authorization: `Bearer ${t.adminToken}`, ...headers } });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** An upload body with its length stated, as any HTTP client sends it (in-process Requests do not add one). */
const octets = (bytes: Uint8Array<ArrayBuffer>, token?: string, extra: Record<string, string> = {}) => ({
  body: bytes,
  headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), ...extra },
  ...(token === undefined ? {} : { token }),
});

async function newImage(t: ApiTarget, contentType = 'application/octet-stream'): Promise<string> {
  const r = await call(t, 'POST', '/v1/images', { json: { name: unique('img'), kind: 'file', contentType } });
  expect(r.status).toBe(201);
  return r.body.id;
}

export function imagesContract(target: () => ApiTarget) {
  describe('images', () => {
    it('creates a pending image, uploads it in one request and records size and sha256', async () => {
      const t = target();
      const name = unique('vmlinuz');
      const created = await call(t, 'POST', '/v1/images', { json: { name, kind: 'kernel', contentType: 'application/x-linux-kernel' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name, kind: 'kernel', contentType: 'application/x-linux-kernel', status: 'pending', size: null, sha256: null });
      expect(created.body.id).toMatch(/^img_[0-9a-z]{26}$/);
      const id = created.body.id as string;

      const bytes = bytesOf(200_000, 1);
      const put = await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytes));
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ id, status: 'ready', size: bytes.length, sha256: await sha256(bytes) });

      const got = await call(t, 'GET', `/v1/images/${id}`);
      expect(got.body).toEqual(put.body);
      const listed = await call(t, 'GET', '/v1/images?limit=500');
      expect(listed.body.items.map((i: { id: string }) => i.id)).toContain(id);

      const { res, bytes: back } = await download(t, `/v1/images/${id}/content`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-linux-kernel');
      expect(res.headers.get('content-length')).toBe(String(bytes.length));
      expect(res.headers.get('etag')).toBe(`"${put.body.sha256}"`);
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      expect(await sha256(back as Uint8Array<ArrayBuffer>)).toBe(put.body.sha256);
    });

    it('serves byte ranges with 206, HEAD without a body, and 416 for a range past the end', async () => {
      const t = target();
      const id = await newImage(t);
      const bytes = bytesOf(10_000, 2);
      expect((await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytes))).status).toBe(200);

      const part = await download(t, `/v1/images/${id}/content`, { range: 'bytes=100-199' });
      expect(part.res.status).toBe(206);
      expect(part.res.headers.get('content-range')).toBe('bytes 100-199/10000');
      expect(part.res.headers.get('content-length')).toBe('100');
      expect([...part.bytes]).toEqual([...bytes.subarray(100, 200)]);

      const suffix = await download(t, `/v1/images/${id}/content`, { range: 'bytes=-10' });
      expect(suffix.res.status).toBe(206);
      expect([...suffix.bytes]).toEqual([...bytes.subarray(9_990)]);

      const head = await download(t, `/v1/images/${id}/content`, {}, 'HEAD');
      expect(head.res.status).toBe(200);
      expect(head.res.headers.get('content-length')).toBe('10000');
      expect(head.res.headers.get('etag')).toBe(`"${await sha256(bytes)}"`);
      expect(head.bytes.length).toBe(0);

      const bad = await call(t, 'GET', `/v1/images/${id}/content`, { headers: { range: 'bytes=10000-' } });
      expect(bad.status).toBe(416);
      expect(errorCode(bad)).toBe('range_not_satisfiable');
      expect(bad.headers.get('content-range')).toBe('bytes */10000');
    });

    it('uploads in 5 MiB parts, resumes after refused parts, and computes the sha256 across requests', async () => {
      const t = target();
      const id = await newImage(t, 'application/x-raw-disk-image');
      const bytes = bytesOf(2 * PART + 4321, 3);
      const digest = await sha256(bytes);
      const started = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: bytes.length, partSize: PART, expectedSha256: digest } });
      expect(started.status).toBe(201);
      expect(started.body).toMatchObject({ imageId: id, size: bytes.length, partSize: PART, partCount: 3, partsDone: 0, nextPart: 1 });
      const up = `/v1/images/${id}/uploads/${started.body.id}`;
      expect((await call(t, 'GET', `/v1/images/${id}`)).body.status).toBe('uploading');

      const early = await call(t, 'PUT', `${up}/parts/2`, octets(bytes.subarray(PART, 2 * PART)));
      expect(early.status).toBe(409);
      expect(errorCode(early)).toBe('part_out_of_order');
      const short = await call(t, 'PUT', `${up}/parts/1`, octets(bytes.slice(0, PART - 1)));
      expect(short.status).toBe(400);
      expect(errorCode(short)).toBe('size_mismatch');
      expect((await call(t, 'GET', up)).body).toMatchObject({ partsDone: 0, nextPart: 1 });

      expect((await call(t, 'PUT', `${up}/parts/1`, octets(bytes.slice(0, PART)))).status).toBe(200);
      // A client that lost the answer sends the same part again: accepted, nothing doubles.
      const again = await call(t, 'PUT', `${up}/parts/1`, octets(bytes.slice(0, PART)));
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ partsDone: 1, nextPart: 2, bytesDone: PART });

      const resume = await call(t, 'GET', up);
      expect(resume.body).toMatchObject({ partsDone: 1, nextPart: 2 });
      const incomplete = await call(t, 'POST', `${up}/complete`);
      expect(incomplete.status).toBe(409);
      expect((await call(t, 'PUT', `${up}/parts/2`, octets(bytes.slice(PART, 2 * PART)))).status).toBe(200);
      const stale = await call(t, 'PUT', `${up}/parts/1`, octets(bytes.slice(0, PART)));
      expect(stale.status).toBe(409);
      expect(errorCode(stale)).toBe('part_out_of_order');
      const wrongLast = await call(t, 'PUT', `${up}/parts/3`, octets(bytes.slice(2 * PART, 2 * PART + 10)));
      expect(errorCode(wrongLast)).toBe('size_mismatch');
      const last = await call(t, 'PUT', `${up}/parts/3`, octets(bytes.slice(2 * PART)));
      expect(last.body).toMatchObject({ partsDone: 3, nextPart: null });

      const done = await call(t, 'POST', `${up}/complete`);
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ id, status: 'ready', size: bytes.length, sha256: digest });
      expect((await call(t, 'GET', up)).status).toBe(404);

      const across = await download(t, `/v1/images/${id}/content`, { range: `bytes=${PART - 3}-${PART + 2}` });
      expect(across.res.status).toBe(206);
      expect([...across.bytes]).toEqual([...bytes.subarray(PART - 3, PART + 3)]);
      const whole = await download(t, `/v1/images/${id}/content`);
      expect(whole.bytes.length).toBe(bytes.length);
      expect(await sha256(whole.bytes as Uint8Array<ArrayBuffer>)).toBe(digest);
    });

    it('refuses bytes whose sha256 is not the expected one, keeping the image pending', async () => {
      const t = target();
      const id = await newImage(t);
      const bytes = bytesOf(1000, 4);
      const wrong = 'f'.repeat(64);
      const single = await call(t, 'PUT', `/v1/images/${id}/content?sha256=${wrong}`, octets(bytes));
      expect(single.status).toBe(422);
      expect(errorCode(single)).toBe('checksum_mismatch');
      const byHeader = await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytes, undefined, { 'x-expected-sha256': wrong }));
      expect(byHeader.status).toBe(422);
      expect((await call(t, 'GET', `/v1/images/${id}`)).body).toMatchObject({ status: 'pending', sha256: null });
      expect((await call(t, 'GET', `/v1/images/${id}/content`)).status).toBe(409);

      const started = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: 1000, partSize: PART, expectedSha256: wrong } });
      const up = `/v1/images/${id}/uploads/${started.body.id}`;
      expect((await call(t, 'PUT', `${up}/parts/1`, octets(bytes))).status).toBe(200);
      const done = await call(t, 'POST', `${up}/complete`);
      expect(done.status).toBe(422);
      expect(errorCode(done)).toBe('checksum_mismatch');
      expect((await call(t, 'GET', `/v1/images/${id}`)).body.status).toBe('pending');

      const right = await call(t, 'PUT', `/v1/images/${id}/content?sha256=${await sha256(bytes)}`, octets(bytes));
      expect(right.status).toBe(200);
      const twice = await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytes));
      expect(twice.status).toBe(409);
    });

    it('aborts an upload, and refuses unknown uploads, a second open upload and bad part sizes', async () => {
      const t = target();
      const id = await newImage(t);
      const first = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: PART + 1 } });
      expect(first.status).toBe(201);
      expect(first.body.partSize).toBe(64 * 1024 * 1024);
      const second = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: 10 } });
      expect(second.status).toBe(409);
      const single = await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytesOf(10, 1)));
      expect(single.status).toBe(409);

      expect((await call(t, 'DELETE', `/v1/images/${id}/uploads/${first.body.id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/images/${id}`)).body.status).toBe('pending');
      const gone = await call(t, 'PUT', `/v1/images/${id}/uploads/${first.body.id}/parts/1`, octets(bytesOf(10, 1)));
      expect(gone.status).toBe(404);
      expect(errorCode(gone)).toBe('not_found');

      const tooSmall = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: 100, partSize: 1024 } });
      expect(tooSmall.status).toBe(400);
      expect(errorCode(tooSmall)).toBe('validation_failed');
      const tooMany = await call(t, 'POST', `/v1/images/${id}/uploads`, { json: { size: 10_001 * PART, partSize: PART } });
      expect(errorCode(tooMany)).toBe('validation_failed');

    });

    it('deletes an unused image and refuses one a profile uses', async () => {
      const t = target();
      const id = await newImage(t);
      expect((await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytesOf(64, 5)))).status).toBe(200);
      const profile = await call(t, 'POST', '/v1/profiles', { json: { name: unique('linux'), spec: { kind: 'linux', kernel: id } } });
      expect(profile.status).toBe(201);
      const used = await call(t, 'DELETE', `/v1/images/${id}`);
      expect(used.status).toBe(409);
      expect(errorCode(used)).toBe('conflict');
      expect((await call(t, 'DELETE', `/v1/profiles/${profile.body.id}`)).status).toBe(204);
      expect((await call(t, 'DELETE', `/v1/images/${id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/images/${id}`)).status).toBe(404);
      expect((await call(t, 'DELETE', `/v1/images/${id}`)).status).toBe(404);
    });

    it('lets operators and viewers read the catalog but not upload or download; relays get 403', async () => {
      const t = target();
      const id = await newImage(t);
      expect((await call(t, 'PUT', `/v1/images/${id}/content`, octets(bytesOf(32, 6)))).status).toBe(200);
      const siteId = await createSite(t);
      const viewer = (await createToken(t, { role: 'viewer' })).token;
      const operator = (await createToken(t, { role: 'operator', siteIds: [siteId] })).token;
      const relay = (await enrollRelay(t, siteId)).token;

      for (const token of [viewer, operator]) {
        expect((await call(t, 'GET', `/v1/images/${id}`, { token })).status).toBe(200);
        expect((await call(t, 'GET', '/v1/images', { token })).status).toBe(200);
        for (const [method, path, opts] of [
          ['POST', '/v1/images', { json: { name: unique('nope') } }],
          ['PUT', `/v1/images/${id}/content`, octets(bytesOf(8, 1))],
          ['POST', `/v1/images/${id}/uploads`, { json: { size: 10 } }],
          ['GET', `/v1/images/${id}/content`, {}],
          ['DELETE', `/v1/images/${id}`, {}],
        ] as const) {
          const r = await call(t, method, path, { ...opts, token });
          expect(r.status, `${method} ${path}`).toBe(403);
          expect(errorCode(r)).toBe('forbidden');
        }
      }
      for (const path of ['/v1/images', `/v1/images/${id}`, `/v1/images/${id}/content`]) {
        expect((await call(t, 'GET', path, { token: relay })).status, path).toBe(403);
      }
      expect((await call(t, 'GET', `/v1/images/${id}`, { token: null })).status).toBe(401);
    });
  });
}
