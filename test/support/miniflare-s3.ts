import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import type { S3Config } from '../../cloud/src/adapters/s3-object-store.ts';

/**
 * A local R2 bucket that also answers the S3 API (Miniflare serves it at /cdn-cgi/local/r2/s3 for
 * buckets given S3 credentials), so the S3 adapter is tested for real without any other server.
 * Storage is in memory and goes away with `dispose()`.
 */
export async function startLocalS3(bucket = 'edgeboot-test'): Promise<{ config: S3Config; dispose(): Promise<void> }> {
  const credentials = { accessKeyId: 'edgeboot-test-key', secretAccessKey: 'edgeboot-test-secret' };
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: '127.0.0.1',
      port: 0,
      modules: true,
      // Miniflare needs a worker to host the bucket; the S3 endpoint is served beside it.
      script: 'export default { fetch() { return new Response(null, { status: 404 }) } }',
      r2Buckets: { BUCKET: { id: bucket, s3Credentials: credentials } },
    }),
  );
  const url = await mf.ready;
  return {
    config: { endpoint: new URL('/cdn-cgi/local/r2/s3', url).href, bucket, region: 'auto', ...credentials },
    dispose: () => mf.dispose(),
  };
}
