import { unique } from '../target.ts';
import { sameObject, type BodyEndpoint, type IdRoute, type InputWorld, type ListRoute } from './suite.ts';

async function image(w: InputWorld): Promise<string> {
  const r = await w.admin('POST', '/v1/images', { name: unique('input-sign') });
  if (r.status !== 201) throw new Error(`setup: POST /v1/images gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body.id;
}

/**
 * The signing endpoint and the signing keys. The files route takes no body and no bearer; its bad
 * input (tokens, paths, methods) is the tamper suite of the files contract.
 */
export const fileEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/images/{id}/signed-url',
    method: 'POST',
    target: async (w) => ({ path: `/v1/images/${await image(w)}/signed-url` }),
    valid: (w) => ({ siteId: w.siteA }),
    invalid: (w) => [
      { siteId: 5 },
      { siteId: '' },
      { siteId: 's'.repeat(65) },
      { siteId: 'site_00000000000000000000000000' },
      { siteId: w.siteA, ttlSeconds: 0 },
      { siteId: w.siteA, ttlSeconds: -60 },
      { siteId: w.siteA, ttlSeconds: 1.5 },
      { siteId: w.siteA, ttlSeconds: 86_401 },
      { siteId: w.siteA, ttlSeconds: '60' },
      { ttlSeconds: 60 },
    ],
    // Signing writes nothing but, the first time, a key: a refusal must not even do that.
    unchanged: sameObject(() => '/v1/signing-keys'),
  },
];

export const fileIds: IdRoute[] = [
  {
    route: 'POST /v1/images/{id}/signed-url',
    method: 'POST',
    path: (id) => `/v1/images/${id}/signed-url`,
    unknownId: 'img_00000000000000000000000000',
    json: { siteId: 'site_00000000000000000000000000' },
  },
];

/** Not paged (a key per rotation), so every query parameter is unknown and refused. */
export const fileLists: ListRoute[] = [{ route: '/v1/signing-keys', path: '/v1/signing-keys', bad: ['limit=10', 'cursor=k1', 'colour=blue', 'secret=1'] }];
