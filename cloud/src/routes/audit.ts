import { createRoute, z } from '@hono/zod-openapi';
import { AuditEntry } from '../../../shared/schemas/access.ts';
import { Limit, page, Timestamp } from '../../../shared/schemas/common.ts';
import { assertRole } from '../auth/principal.ts';
import { sql, type SqlValue } from '../ports/sql-database.ts';
import { iso } from '../time.ts';
import { errorResponses, json, keysetPage, router } from './openapi.ts';

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  site_id: string | null;
  result: string;
  status: number;
  request_id: string;
}

const toEntry = (r: AuditRow): z.infer<typeof AuditEntry> => ({
  id: r.id,
  at: iso(r.at),
  actor: r.actor,
  action: r.action,
  target: r.target,
  siteId: r.site_id,
  result: r.result,
  status: r.status,
  requestId: r.request_id,
});

const Query = z.strictObject({
  limit: Limit,
  cursor: z.string().max(16).regex(/^[1-9][0-9]{0,15}$/, 'not a cursor').optional().meta({ description: 'nextCursor of the previous page' }),
  since: Timestamp.optional().meta({ description: 'only entries at or after this time' }),
  actor: z.string().min(1).max(64).optional().meta({ description: 'token id, or "anonymous"' }),
  target: z.string().min(1).max(64).optional(),
  siteId: z.string().min(1).max(64).optional(),
});

/** The audit log, newest first (admin). The table itself refuses UPDATE and DELETE (triggers). */
export function auditRoutes() {
  return router().openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['audit'],
      summary: 'Audit log entries, newest first (admin)',
      request: { query: Query },
      responses: { 200: json(page(AuditEntry, 'AuditPage')), ...errorResponses },
    }),
    async (c) => {
      assertRole(c.get('principal')!, 'admin');
      const q = c.req.valid('query');
      const where: string[] = [];
      const params: SqlValue[] = [];
      const add = (clause: string, value: SqlValue | undefined) => {
        if (value === undefined) return;
        where.push(clause);
        params.push(value);
      };
      add('id < ?', q.cursor === undefined ? undefined : Number(q.cursor));
      add('at >= ?', q.since === undefined ? undefined : Date.parse(q.since));
      add('actor = ?', q.actor);
      add('target = ?', q.target);
      add('site_id = ?', q.siteId);
      const rows = await c.get('deps').db.all<AuditRow>(
        sql(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, ...params, q.limit + 1),
      );
      return c.json(keysetPage(rows, q.limit, toEntry), 200);
    },
  );
}
