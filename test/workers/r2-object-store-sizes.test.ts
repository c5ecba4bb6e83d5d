import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { SizeMismatchError } from '../../cloud/src/adapters/exact-length.ts';
import { r2ObjectStore } from '../../cloud/src/adapters/workers/r2-object-store.ts';

const zeros = (n: number) => new Blob([new Uint8Array(n)]).stream();

// R2's FixedLengthStream words a wrong size as a TypeError; callers rely on one error type across stores.
it('reports a short or long body as SizeMismatchError, for objects and parts', async () => {
  const store = r2ObjectStore(env.IMAGES);
  await expect(store.put('sizes/short', zeros(5), { size: 6, contentType: 'application/octet-stream' })).rejects.toBeInstanceOf(SizeMismatchError);
  await expect(store.put('sizes/long', zeros(7), { size: 6, contentType: 'application/octet-stream' })).rejects.toBeInstanceOf(SizeMismatchError);
  const uploadId = await store.createMultipart('sizes/parts', 'application/octet-stream');
  await expect(store.uploadPart('sizes/parts', uploadId, 1, zeros(4), 6)).rejects.toBeInstanceOf(SizeMismatchError);
  await expect(store.uploadPart('sizes/parts', uploadId, 1, zeros(8), 6)).rejects.toBeInstanceOf(SizeMismatchError);
  expect(await store.head('sizes/short')).toBeNull();
});
