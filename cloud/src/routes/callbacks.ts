import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { normalizeMac } from '../../../shared/mac.ts';
import {
  CallbackFailedBody,
  CallbackProgressBody,
  CallbackResult,
  CallbackStartedBody,
  CallbackSucceededBody,
  type BootState,
} from '../../../shared/schemas/boot-events.ts';
import { auditOk } from '../audit.ts';
import { sha256Hex } from '../auth/secrets.ts';
import { cloudEvent } from '../boot/cloud-event.ts';
import type { AppEnv } from '../context.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import { errorResponses, json, router } from './openapi.ts';

/**
 * Installers report on their boot with the per-boot callback token handed to them in the script:
 * `Authorization: Bearer ebc_…`, or `?token=` for tools that cannot set headers. The token is the
 * whole credential, so it is checked before anything else (bodies included) is looked at.
 */

interface CallbackBoot {
  id: string;
  machine_id: string;
  site_id: string;
  relay_id: string | null;
  assignment_id: string | null;
  once: number;
  state: BootState;
  callback_expires_at: number | null;
  mac: string;
}

type CallbackEnv = { Variables: AppEnv['Variables'] & { boot: CallbackBoot } };

/** The failure log kept per boot: its end, where the error usually is. */
const LOG_TAIL_KEPT = 16 * 1024;
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const BEARER = /^Bearer ([A-Za-z0-9_-]{1,128})$/;
const FINISHED: ReadonlySet<BootState> = new Set(['succeeded', 'failed']);

const CallbackQuery = z.strictObject({
  token: z.string().max(128).optional().meta({ description: 'the callback token, for tools that cannot set an Authorization header' }),
  mac: z.string().max(40).optional().meta({ description: "the caller's MAC: a token of another machine is then refused with 404" }),
});

function tokenOf(c: Context<CallbackEnv>): string {
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
function callbackAuth(): MiddlewareHandler<CallbackEnv> {
  return async (c, next) => {
    const { db, clock } = c.get('deps');
    const boot = await db.first<CallbackBoot>(
      sql(
        `SELECT b.id, b.machine_id, b.site_id, b.relay_id, b.assignment_id, b.once, b.state, b.callback_expires_at, m.mac
           FROM boots b JOIN machines m ON m.id = b.machine_id WHERE b.callback_hash = ?`,
        sha256Hex(tokenOf(c)),
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
    await next();
  };
}

type Event = 'started' | 'progress' | 'succeeded' | 'failed';

function route(event: Event, schema: z.ZodType, bodyRequired: boolean, summary: string) {
  return createRoute({
    method: 'post',
    path: `/${event}`,
    tags: ['callbacks'],
    summary,
    security: [{ callbackToken: [] }],
    request: { query: CallbackQuery, body: { required: bodyRequired, content: { 'application/json': { schema } } } },
    responses: { 200: json(CallbackResult), 410: json(CallbackResult, 'the boot already finished'), ...errorResponses },
  });
}

/**
 * Everything a callback changes, with its timeline entry and audit row, in one batch: progress
 * reports come every few seconds per installing machine and must stay one round trip.
 */
async function apply(c: Context<CallbackEnv>, event: Event, state: BootState, change: SqlStatement[], detail: Record<string, unknown>) {
  const boot = c.get('boot');
  const { db } = c.get('deps');
  const now = c.get('deps').clock.now();
  await db.batch([
    ...change,
    cloudEvent({ mac: boot.mac, siteId: boot.site_id, relayId: boot.relay_id, bootId: boot.id, source: 'callback', stage: `callback-${event}`, at: now, detail }),
    auditOk(c as unknown as Context<AppEnv>, boot.id, boot.site_id, 200, `boot:${boot.id}`),
  ]);
  return c.json({ bootId: boot.id, state }, 200);
}

const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Mounted at /v1/callback (a public path: the callback token is checked here, not by authenticate). */
export function callbackRoutes() {
  const r = router<CallbackEnv>();
  r.use('*', callbackAuth());
  return r
    .openapi(route('started', CallbackStartedBody, false, 'The installer started (callback token)'), async (c) => {
      const body = (c.req.valid('json') ?? {}) as z.infer<typeof CallbackStartedBody>;
      const now = c.get('deps').clock.now();
      const boot = c.get('boot');
      return apply(c, 'started', 'started', [sql("UPDATE boots SET state = 'started', updated_at = ? WHERE id = ?", now, boot.id)], defined({ message: body.message }));
    })
    .openapi(route('progress', CallbackProgressBody, true, 'Installation progress: bytes, percent, a message (callback token)'), async (c) => {
      const body = c.req.valid('json') as z.infer<typeof CallbackProgressBody>;
      const now = c.get('deps').clock.now();
      const boot = c.get('boot');
      const progress = defined({ ...body, at: new Date(now).toISOString() });
      return apply(
        c,
        'progress',
        'started',
        [sql("UPDATE boots SET state = 'started', progress = ?, updated_at = ? WHERE id = ?", JSON.stringify(progress), now, boot.id)],
        defined(body),
      );
    })
    .openapi(route('succeeded', CallbackSucceededBody, false, 'The installation succeeded: the machine is deployed, a one-shot is consumed (callback token)'), async (c) => {
      const body = (c.req.valid('json') ?? {}) as z.infer<typeof CallbackSucceededBody>;
      const now = c.get('deps').clock.now();
      const boot = c.get('boot');
      const change = [
        sql("UPDATE boots SET state = 'succeeded', updated_at = ? WHERE id = ?", now, boot.id),
        sql("UPDATE machines SET state = 'deployed', updated_at = ? WHERE id = ?", now, boot.machine_id),
      ];
      // A one-shot is done: the machine boots its local disk until someone re-provisions it.
      if (boot.once === 1 && boot.assignment_id !== null) {
        change.push(
          sql(
            'INSERT OR REPLACE INTO assignment_consumptions (assignment_id, machine_id, boot_id, consumed_at) SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM assignments WHERE id = ?)',
            boot.assignment_id,
            boot.machine_id,
            boot.id,
            now,
            boot.assignment_id,
          ),
        );
      }
      return apply(c, 'succeeded', 'succeeded', change, defined({ message: body.message }));
    })
    .openapi(route('failed', CallbackFailedBody, true, 'The installation failed, with a reason and the end of its log (callback token)'), async (c) => {
      const body = c.req.valid('json') as z.infer<typeof CallbackFailedBody>;
      const now = c.get('deps').clock.now();
      const boot = c.get('boot');
      const tail = body.logTail === undefined ? null : body.logTail.slice(-LOG_TAIL_KEPT);
      return apply(
        c,
        'failed',
        'failed',
        [
          sql("UPDATE boots SET state = 'failed', log_tail = ?, updated_at = ? WHERE id = ?", tail, now, boot.id),
          sql("UPDATE machines SET state = 'failed', updated_at = ? WHERE id = ?", now, boot.machine_id),
        ],
        { reason: body.reason },
      );
    });
}
