import { expect } from 'vitest';
import { unique } from '../target.ts';
import { GENERIC_BAD_QUERY, noneNamed, sameObject, type BodyEndpoint, type IdRoute, type InputWorld, type ListRoute } from './suite.ts';

async function image(w: InputWorld): Promise<string> {
  const r = await w.admin('POST', '/v1/images', { name: unique('input-img') });
  if (r.status !== 201) throw new Error(`setup: POST /v1/images gave ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body.id;
}
const NO_IMAGE = 'img_00000000000000000000000000';
const MiB = 1024 * 1024;

/**
 * Image records and multipart uploads. The bytes themselves (PUT …/content, …/parts/{n}) stream
 * outside the JSON body limit; their length and checksum refusals are in the images contract.
 */
export const imageEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/images',
    method: 'POST',
    target: async () => ({ path: '/v1/images' }),
    valid: () => ({ name: unique('input-img'), kind: 'kernel' }),
    invalid: () => [{ name: 5 }, { name: unique('i'), kind: 'exe' }, { name: unique('i'), arch: 'x86' }, { name: unique('i'), contentType: 'not a type' }, { name: unique('i'), size: 10 }, { kind: 'file' }],
    unchanged: noneNamed('/v1/images', 'name'),
  },
  {
    route: 'PATCH /v1/images/{id}',
    method: 'PATCH',
    target: async (w) => ({ path: `/v1/images/${await image(w)}` }),
    valid: () => ({ arch: 'arm64' }),
    invalid: () => [{ arch: 'z80' }, { arch: null }, { name: 5 }, { name: '' }, { kind: 'kernel' }, { size: 10 }],
    unchanged: sameObject(),
  },
  {
    route: 'POST /v1/images/{id}/uploads',
    method: 'POST',
    target: async (w) => ({ path: `/v1/images/${await image(w)}/uploads` }),
    valid: () => ({ size: 10 }),
    invalid: () => [
      { size: 0 },
      { size: 'big' },
      { size: 10.5 },
      { size: 10, partSize: 1024 },
      { size: 10, expectedSha256: 'xyz' },
      { size: 6 * 1024 * 1024 * MiB },
      { size: 10_001 * 5 * MiB, partSize: 5 * MiB },
      {},
    ],
    // A refused start leaves the image pending, with no upload open.
    unchanged: async (w, valid, path) => {
      const check = await sameObject((p) => p.replace(/\/uploads$/, ''))(w, valid, path);
      return async () => {
        await check();
        expect((await w.admin('GET', path.replace(/\/uploads$/, ''))).body.status).toBe('pending');
      };
    },
  },
];

export const imageIds: IdRoute[] = [
  { route: 'GET /v1/images/{id}', method: 'GET', path: (id) => `/v1/images/${id}`, unknownId: NO_IMAGE },
  { route: 'PATCH /v1/images/{id}', method: 'PATCH', path: (id) => `/v1/images/${id}`, unknownId: NO_IMAGE, json: { arch: 'any' } },
  { route: 'DELETE /v1/images/{id}', method: 'DELETE', path: (id) => `/v1/images/${id}`, unknownId: NO_IMAGE },
  { route: 'GET /v1/images/{id}/content', method: 'GET', path: (id) => `/v1/images/${id}/content`, unknownId: NO_IMAGE },
  { route: 'POST /v1/images/{id}/uploads', method: 'POST', path: (id) => `/v1/images/${id}/uploads`, unknownId: NO_IMAGE, json: { size: 10 } },
  { route: 'GET /v1/images/{id}/uploads/{uploadId}', method: 'GET', path: (id) => `/v1/images/${id}/uploads/upl_00000000000000000000000000`, unknownId: NO_IMAGE },
];

export const imageLists: ListRoute[] = [{ route: '/v1/images', path: '/v1/images', bad: GENERIC_BAD_QUERY }];
