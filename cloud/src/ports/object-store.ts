/**
 * Where image bytes live: R2 (binding), any S3-compatible store, a local folder, or memory.
 * Bodies are streams end to end so that a multi-gigabyte image never sits in memory.
 */
export interface ObjectInfo {
  size: number;
  etag: string;
  contentType: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  offset: number;
  /** Number of bytes. */
  length: number;
}

export interface ObjectBody extends ObjectInfo {
  body: ReadableStream<Uint8Array>;
  /** Set when a range was asked for: the bytes the body holds. */
  range?: ByteRange;
}

export interface ObjectStore {
  /** Stores a stream of exactly `size` bytes under `key`, replacing any object there. */
  put(key: string, body: ReadableStream<Uint8Array>, options: { size: number; contentType: string }): Promise<ObjectInfo>;
  /** The object, or a byte range of it; null when there is no such key. */
  get(key: string, range?: ByteRange): Promise<ObjectBody | null>;
  /** Size, etag and type without the body; null when there is no such key. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Removes the object; no error if it is absent. */
  delete(key: string): Promise<void>;
  /** Starts a multipart upload and returns the store's upload id. */
  createMultipart(key: string, contentType: string): Promise<string>;
  /** Uploads part `partNumber` (1-based) of exactly `size` bytes; returns its etag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: ReadableStream<Uint8Array>, size: number): Promise<string>;
  /** Joins the parts, in part-number order, into the object. */
  completeMultipart(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<ObjectInfo>;
  /** Drops an unfinished upload and its parts. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /**
   * A URL that lets anyone GET the object (Range included) for `ttlSeconds`, for stores that can
   * sign one (S3 SigV4 query signing); absent on stores that cannot.
   */
  presignGet?(key: string, ttlSeconds: number): Promise<string>;
}
