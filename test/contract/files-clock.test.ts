import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_TTL_SECONDS, signToken, type SignInput, type SigningKey } from '../../shared/crypto/signed-url.ts';
import { signingKeys } from '../../cloud/src/boot/signing-keys.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { inProcessTarget, manualClock } from '../support/in-process.ts';
import { createSite } from './fixtures.ts';
import { call, errorCode, unique } from './target.ts';

/**
 * Signed file URLs where the test must hold the key or move the clock: tokens with a genuine MAC
 * over a field the route must still refuse. The HTTP tamper suite (every column) cannot sign.
 */
describe('signed file URLs with a known key and a manual clock (in-process)', () => {
  const clock = manualClock();
  const t = inProcessTarget({ clock });
  const BYTES = 'known-key-object-bytes';
  let id: string;
  let site: string;
  let key: SigningKey;
  const nowSec = () => Math.floor(clock.now() / 1000);
  const sign = (input: Partial<SignInput>, k = key, signedAt = nowSec()) =>
    signToken(k, { method: 'GET', path: `/v1/files/${id}`, site, expiresAt: nowSec() + 60, ...input }, signedAt);
  const get = async (token: string, path = `/v1/files/${id}`, method = 'GET') => {
    const res = await t.fetch(`${path}?sig=${token}`, { method });
    return { status: res.status, text: await res.text() };
  };
  const refused = (r: { status: number; text: string }, status: number, reason: RegExp) => {
    expect(r.status, r.text).toBe(status);
    expect(r.text).not.toContain(BYTES);
    const body = JSON.parse(r.text);
    expect(errorCode({ status: r.status, headers: new Headers(), body, text: r.text })).toBe(status === 400 ? 'bad_request' : 'forbidden');
    expect(body.error.message).toMatch(reason);
  };

  beforeAll(async () => {
    site = await createSite(t, unique('clock'));
    id = (await call(t, 'POST', '/v1/images', { json: { name: unique('clock-img') } })).body.id;
    const put = await call(t, 'PUT', `/v1/images/${id}/content`, { body: BYTES, headers: { 'content-type': 'application/octet-stream', 'content-length': String(BYTES.length) } });
    expect(put.status).toBe(200);
    key = (await signingKeys(t.deps.db, clock.now())).active;
  });

  it('serves until the last second of its lifetime and refuses from the expiry second on', async () => {
    const token = await sign({ expiresAt: nowSec() + 60 });
    clock.advance(59_999);
    expect((await get(token)).text).toBe(BYTES);
    clock.advance(1);
    refused(await get(token), 403, /expired/);
    clock.advance(-60_000);
  });

  it('refuses a genuine token whose expiry is beyond the maximum lifetime, and serves one exactly at it', async () => {
    // Signed as if an hour ago the limit allowed it: the verifier counts from now.
    const far = await sign({ expiresAt: nowSec() + MAX_TTL_SECONDS + 1 }, key, nowSec() + 1);
    refused(await get(far), 403, /maximum lifetime/);
    expect((await get(await sign({ expiresAt: nowSec() + MAX_TTL_SECONDS }))).text).toBe(BYTES);
  });

  it('refuses a genuine HEAD token for a GET, and serves the HEAD', async () => {
    const head = await sign({ method: 'HEAD' });
    refused(await get(head), 403, /signature/);
    expect((await get(head, `/v1/files/${id}`, 'HEAD')).status).toBe(200);
  });

  it('refuses genuine tokens for paths that are not exactly this file', async () => {
    for (const path of [`/v1/files/${id}/content`, `/v1/boot/${id}`, `/v1/images/${id}/content`]) {
      const token = await sign({ path });
      // Presented at its own path (reachable ones) and at the file's path: never the bytes.
      if (path.startsWith('/v1/files/')) refused(await get(token, path), 403, /not a file/);
      refused(await get(token), 403, /signature/);
    }
  });

  it('keeps verifying a retired key after a rotation, and refuses a key that was deleted', async () => {
    const old = await sign({});
    expect((await call(t, 'POST', '/v1/signing-keys/rotate')).status).toBe(201);
    expect((await get(old)).text).toBe(BYTES);
    await t.deps.db.batch([sql('DELETE FROM signing_keys WHERE kid = ?', key.kid)]);
    refused(await get(old), 403, /unknown key/);
    key = (await signingKeys(t.deps.db, clock.now())).active;
  });

  it('refuses a token signed with a key of the right id but other bytes', async () => {
    const forged = await sign({}, { kid: key.kid, secret: new Uint8Array(32).fill(7) });
    refused(await get(forged), 403, /signature/);
  });
});
