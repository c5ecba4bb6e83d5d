import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { normalizeMac } from '../../../shared/mac.ts';
import type { BootState } from '../../../shared/schemas/boot-events.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { sha256Hex } from './secrets.ts';

/**
 * The per-boot callback token (`ebc_…`, minted by boot/serve.ts, stored hashed) is the whole
 * credential of an installer or the imager: it is checked before anything else (bodies included)
 * is looked at. It comes as `Authorization: Bearer …`, as `?token=` for tools that cannot set
 * headers, or in the path of answer files (`/files/<token>/<name>`) for installers that only take
 * a URL they append file names to (cloud-init's `s=`).
 */

export interface CallbackBoot {
  id: string;
  machine_id: string;
  site_id: string;
  relay_id: string | null;
  profile_id: string | null;
  assignment_id: string | null;
  once: number;
  state: BootState;
  callback_expires_at: number | null;
  file_base: string | null;
  mac: string;
}

export type CallbackEnv = { Variables: AppEnv['Variables'] & { boot: CallbackBoot; callbackToken: string } };

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const BEARER = /^Bearer ([A-Za-z0-9_-]{1,128})$/;
const PATH_TOKEN = /\/files\/([^/]*)\//;
const FINISHED: ReadonlySet<BootState> = new Set(['succeeded', 'failed']);

export const CallbackQuery = z.strictObject({
  token: z.string().max(128).optional().meta({ description: 'the callback token, for tools that cannot set an Authorization header' }),
  mac: z.string().max(40).optional().meta({ description: "the caller's MAC: a token of another machine is then refused with 404" }),
});

function tokenOf(c: Context<CallbackEnv>): string {
  const inPath = PATH_TOKEN.exec(c.req.path);
  if (inPath) {
    if (!TOKEN.test(inPath[1]!)) throw new AppError('unauthorized', 'malformed callback token');
    return inPath[1]!;
  }
  const header = c.req.header('authorization');
  if (header !== undefined) {
    const m = BEARER.exec(header);
    if (!m) throw new AppError('unauthorized', 'Authorization must be "Bearer <callback token>"');
    return m[1]!;
  }
  const q = c.req.query('token');
  if (q === undefined) throw new AppError('unauthorized', 'this needs the callback token (Authorization: Bearer ebc_…, or ?token=)');
  if (!TOKEN.test(q)) throw new AppError('unauthorized', 'malformed callback token');
  return q;
}

/** Resolves the token to its boot: unknown or expired 401, another machine's 404, a finished boot 410. */
export function callbackAuth(): MiddlewareHandler<CallbackEnv> {
  return async (c, next) => {
    const { db, clock } = c.get('deps');
    const token = tokenOf(c);
    const boot = await db.first<CallbackBoot>(
      sql(
        `SELECT b.id, b.machine_id, b.site_id, b.relay_id, b.profile_id, b.assignment_id, b.once, b.state, b.callback_expires_at, b.file_base, m.mac
           FROM boots b JOIN machines m ON m.id = b.machine_id WHERE b.callback_hash = ?`,
        sha256Hex(token),
      ),
    );
    if (!boot) throw new AppError('unauthorized', 'unknown callback token');
    const macParam = c.req.query('mac');
    if (macParam !== undefined) {
      const mac = normalizeMac(macParam);
      if (mac === null) throw new AppError('validation_failed', 'mac is not a MAC address', { issues: [{ path: 'mac', message: 'not a MAC address' }] });
      // Another machine's token must not confirm that the boot exists.
      if (mac !== boot.mac) throw new AppError('not_found', 'no boot of this machine has that token');
    }
    if (FINISHED.has(boot.state)) throw new AppError('gone', `this boot already ${boot.state}; its token is spent`);
    if (boot.callback_expires_at !== null && boot.callback_expires_at <= clock.now()) throw new AppError('unauthorized', 'callback token expired');
    c.set('boot', boot);
    c.set('callbackToken', token);
    await next();
  };
}
