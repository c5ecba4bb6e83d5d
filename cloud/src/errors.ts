import { HTTPException } from 'hono/http-exception';
import { SqlConstraintError } from './ports/sql-database.ts';

/**
 * The one error type handlers throw. `app.ts`'s onError turns it into the envelope
 * `{error:{code,message,requestId}}`; handlers hold no try/catch of their own.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  /** A request or part body whose length is not the one the upload requires. */
  size_mismatch: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  /** A multipart image part sent before the one it follows (the hash is computed in part order). */
  part_out_of_order: 409,
  gone: 410,
  length_required: 411,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  /** Uploaded bytes whose SHA-256 is not the one the client said to expect. */
  checksum_mismatch: 422,
  internal: 500,
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export interface Issue {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  readonly issues?: Issue[];
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, extra?: { issues?: Issue[]; headers?: Record<string, string> }) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.issues = extra?.issues;
    this.headers = extra?.headers;
  }
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);

/**
 * Anything thrown, as the AppError its envelope reports: ours as is, a constraint the database refused
 * as a conflict, Hono's own validator failures by their status, anything else as an internal error
 * (whose particulars go to the log, never to the client). The API's onError and the console's use it.
 */
export function toAppError(err: Error): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof SqlConstraintError) return new AppError('conflict', 'the change conflicts with existing data (already exists or still referenced)');
  if (err instanceof HTTPException) {
    // Hono's own validators throw these, e.g. for a body that is not JSON.
    if (err.status === 400) return new AppError('invalid_json', err.message || 'malformed request body');
    const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((k) => ERROR_STATUS[k] === err.status) ?? 'bad_request';
    return new AppError(code, err.message || code);
  }
  return new AppError('internal', 'internal error');
}
