/** A body that is longer or shorter than the size it was declared with. */
export class SizeMismatchError extends Error {
  constructor(declared: number, got: string) {
    super(`body of ${got} bytes, ${declared} declared`);
    this.name = 'SizeMismatchError';
  }
}

/**
 * Passes `body` through and errors the stream as soon as it exceeds `size` bytes, or at its end
 * if it fell short, so a store that is writing it aborts instead of keeping a wrong-sized object.
 */
export function exactLength(body: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        seen += chunk.byteLength;
        if (seen > size) throw new SizeMismatchError(size, `more than ${size}`);
        ctl.enqueue(chunk);
      },
      flush() {
        if (seen !== size) throw new SizeMismatchError(size, String(seen));
      },
    }),
  );
}
