import { AwsClient } from 'aws4fetch';
import type { ByteRange, ObjectBody, ObjectInfo, ObjectStore } from '../ports/object-store.ts';
import { exactLength, SizeMismatchError } from './exact-length.ts';

export interface S3Config {
  /** Service URL, e.g. `https://<account>.r2.cloudflarestorage.com` or `http://127.0.0.1:9000`. */
  endpoint: string;
  bucket: string;
  /** R2 accepts `auto`; AWS wants the bucket's region. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://endpoint/bucket/key` (default: works with R2, MinIO, Miniflare) or `https://bucket.endpoint/key`. */
  pathStyle?: boolean;
  /**
   * How requests are sent; default the global fetch. Deno's fetch drops Content-Length from
   * streamed bodies, so the Deno entry passes `lengthPreservingFetch` (adapters/node).
   */
  fetch?: (request: Request) => Promise<Response>;
}

/** An S3 error response, with S3's own code (`NoSuchUpload`, `InvalidPart`…). */
export class S3Error extends Error {
  readonly status: number;
  readonly s3Code: string;
  constructor(operation: string, status: number, s3Code: string, message: string) {
    super(`S3 ${operation} failed: ${status} ${s3Code}${message ? ` (${message})` : ''}`);
    this.name = 'S3Error';
    this.status = status;
    this.s3Code = s3Code;
  }
}

/**
 * ObjectStore over the S3 API with aws4fetch (Web fetch + crypto.subtle), so it runs on Deno,
 * Node and Workers alike, against R2's S3 endpoint or any S3. Bodies are streamed with their
 * Content-Length and `UNSIGNED-PAYLOAD`: signing the payload would mean reading it twice.
 */
export function s3ObjectStore(config: S3Config): ObjectStore {
  // No automatic retries: a streamed body can be sent only once; callers retry whole parts.
  const client = new AwsClient({
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
    service: 's3',
    region: config.region,
    retries: 0,
  });
  const base = new URL(config.endpoint);
  const url = (key: string, query: Record<string, string> = {}): string => {
    const path = key.split('/').map(encodeURIComponent).join('/');
    const u =
      config.pathStyle === false
        ? new URL(`${base.protocol}//${config.bucket}.${base.host}${base.pathname.replace(/\/$/, '')}/${path}`)
        : new URL(`${base.href.replace(/\/$/, '')}/${encodeURIComponent(config.bucket)}/${path}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.href;
  };

  const send = async (operation: string, target: string, init: RequestInit & { size?: number }): Promise<Response> => {
    const headers = new Headers(init.headers);
    headers.set('x-amz-content-sha256', 'UNSIGNED-PAYLOAD');
    if (init.size !== undefined) headers.set('content-length', String(init.size));
    const req = await client.sign(target, { method: init.method, headers, body: init.body, duplex: 'half' } as RequestInit);
    let res: Response;
    try {
      res = await (config.fetch ?? fetch)(req);
    } catch (err) {
      // fetch reports a body stream's failure as its own TypeError; the cause says what happened.
      throw sizeMismatchIn(err) ?? err;
    }
    if (res.status >= 300 && res.status !== 304 && !(res.status === 404 && (init.method === 'GET' || init.method === 'HEAD'))) {
      throw await s3Error(operation, res);
    }
    return res;
  };

  const infoOf = (res: Response, fallbackType = 'application/octet-stream'): ObjectInfo => {
    // A ranged answer gives the whole size after the slash of Content-Range.
    const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? res.headers.get('content-length') ?? '0';
    return { size: Number(total), etag: unquote(res.headers.get('etag') ?? ''), contentType: res.headers.get('content-type') ?? fallbackType };
  };

  const head = async (key: string): Promise<ObjectInfo | null> => {
    const res = await send('HeadObject', url(key), { method: 'HEAD' });
    if (res.status === 404) return null;
    return infoOf(res);
  };

  return {
    async put(key, body, { size, contentType }) {
      const res = await send('PutObject', url(key), { method: 'PUT', headers: { 'content-type': contentType }, body: exactLength(body, size), size });
      await res.body?.cancel();
      return { size, etag: unquote(res.headers.get('etag') ?? ''), contentType };
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | null> {
      const headers: Record<string, string> = range ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {};
      const res = await send('GetObject', url(key), { method: 'GET', headers });
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      const body = res.body ?? new Blob([]).stream();
      const info = infoOf(res);
      return range ? { ...info, body, range } : { ...info, body };
    },
    head,
    async delete(key) {
      const res = await send('DeleteObject', url(key), { method: 'DELETE' });
      await res.body?.cancel();
    },
    async createMultipart(key, contentType) {
      const res = await send('CreateMultipartUpload', url(key, { uploads: '' }), { method: 'POST', headers: { 'content-type': contentType } });
      const uploadId = xmlField(await res.text(), 'UploadId');
      if (!uploadId) throw new S3Error('CreateMultipartUpload', res.status, 'MalformedResponse', 'no UploadId in the answer');
      return uploadId;
    },
    async uploadPart(key, uploadId, partNumber, body, size) {
      const res = await send('UploadPart', url(key, { partNumber: String(partNumber), uploadId }), {
        method: 'PUT',
        body: exactLength(body, size),
        size,
      });
      await res.body?.cancel();
      const etag = res.headers.get('etag');
      if (!etag) throw new S3Error('UploadPart', res.status, 'MalformedResponse', 'no ETag in the answer');
      return unquote(etag);
    },
    async completeMultipart(key, uploadId, parts) {
      const xml = `<CompleteMultipartUpload>${[...parts]
        .sort((a, b) => a.partNumber - b.partNumber)
        .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${escapeXml(p.etag)}"</ETag></Part>`)
        .join('')}</CompleteMultipartUpload>`;
      const res = await send('CompleteMultipartUpload', url(key, { uploadId }), {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: xml,
      });
      // S3 may answer 200 and still fail: the error then sits in the body (AWS docs, CompleteMultipartUpload).
      const text = await res.text();
      if (/<Error>/.test(text)) throw new S3Error('CompleteMultipartUpload', res.status, xmlField(text, 'Code') ?? 'Error', xmlField(text, 'Message') ?? '');
      const info = await head(key);
      if (!info) throw new S3Error('CompleteMultipartUpload', 404, 'NoSuchKey', 'the completed object is not there');
      return info;
    },
    async abortMultipart(key, uploadId) {
      const res = await send('AbortMultipartUpload', url(key, { uploadId }), { method: 'DELETE' });
      await res.body?.cancel();
    },
    async presignGet(key, ttlSeconds) {
      // SigV4 query signing: X-Amz-Expires is 1 s to 7 days (AWS S3 docs, "Sharing objects with presigned URLs").
      const expires = Math.min(Math.max(Math.floor(ttlSeconds), 1), 7 * 24 * 3600);
      const signed = await client.sign(url(key, { 'X-Amz-Expires': String(expires) }), { method: 'GET', aws: { signQuery: true } });
      return signed.url;
    },
  };
}

async function s3Error(operation: string, res: Response): Promise<S3Error> {
  const text = res.status === 404 && !res.body ? '' : await res.text().catch(() => '');
  return new S3Error(operation, res.status, xmlField(text, 'Code') ?? `HTTP${res.status}`, (xmlField(text, 'Message') ?? '').slice(0, 200));
}

function sizeMismatchIn(err: unknown): SizeMismatchError | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof SizeMismatchError) return e;
  return null;
}

/** S3's answers are flat enough that one element's text is all we read; no XML parser needed. */
function xmlField(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : null;
}

const unquote = (etag: string): string => etag.replace(/^(W\/)?"|"$/g, '');
const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unescapeXml = (s: string): string =>
  s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
