import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  CallbackFailedBody,
  CallbackProgressBody,
  CallbackResult,
  CallbackStartedBody,
  CallbackSucceededBody,
  type BootState,
} from '../../../shared/schemas/boot-events.ts';
import { auditOk } from '../audit.ts';
import { CallbackQuery, callbackAuth, type CallbackEnv } from '../auth/callback-token.ts';
import { cloudEvent } from '../boot/cloud-event.ts';
import type { AppEnv } from '../context.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import { noteMachineSites } from '../sync/machine-sites.ts';
import { answerFileRoutes } from './callback-files.ts';
import { imagingJobRoutes } from './imaging-job.ts';
import { errorResponses, json, router } from './openapi.ts';

/**
 * Installers and the imager report on their boot with the per-boot callback token handed to them in
 * the script (auth/callback-token.ts). Under the same prefix: the imager's job (imaging-job.ts) and
 * installers' answer files (callback-files.ts).
 */

/** The failure log kept per boot: its end, where the error usually is. */
const LOG_TAIL_KEPT = 16 * 1024;

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
  imagingJobRoutes(r);
  answerFileRoutes(r);
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
      await noteMachineSites(c as unknown as Context<AppEnv>, boot.machine_id);
      return apply(c, 'succeeded', 'succeeded', change, defined({ message: body.message }));
    })
    .openapi(route('failed', CallbackFailedBody, true, 'The installation failed, with a reason and the end of its log (callback token)'), async (c) => {
      const body = c.req.valid('json') as z.infer<typeof CallbackFailedBody>;
      const now = c.get('deps').clock.now();
      const boot = c.get('boot');
      const tail = body.logTail === undefined ? null : body.logTail.slice(-LOG_TAIL_KEPT);
      await noteMachineSites(c as unknown as Context<AppEnv>, boot.machine_id);
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
