import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { hardwareLabels, withHardwareLabels } from '../../../shared/boot/hardware-labels.ts';
import { Labels, Timestamp } from '../../../shared/schemas/common.ts';
import { Inventory, InventoryReport } from '../../../shared/schemas/machine.ts';
import { auditOk } from '../audit.ts';
import { CallbackQuery, type CallbackEnv } from '../auth/callback-token.ts';
import type { AppEnv } from '../context.ts';
import { sql } from '../ports/sql-database.ts';
import { noteMachineSites } from '../sync/machine-sites.ts';
import { iso } from '../time.ts';
import { errorResponses, json } from './openapi.ts';

/**
 * POST /v1/callback/inventory — the hardware the imager found (imager/rootfs/edgeboot-inventory),
 * kept per machine: the last report replaces the one before. Apart from the job so that a report
 * the cloud refuses never stops an imaging run, and so that a boot that images nothing (a future
 * "discover" boot) can report through the same door.
 *
 * The derived `hw.*` labels (shared/boot/hardware-labels.ts) are computed here and stored beside
 * the report, apart from people's labels; the boot decision merges them under people's.
 */

export const InventoryAccepted = z
  .object({
    machineId: z.string(),
    reportedAt: Timestamp,
    hardwareLabels: Labels.meta({ description: 'the hw.* labels selectors can now match (a label a person set under the same key wins)' }),
  })
  .meta({ id: 'InventoryAccepted' });

const inventoryRoute = createRoute({
  method: 'post',
  path: '/inventory',
  tags: ['callbacks'],
  summary: "The machine's hardware inventory, from the imager (callback token)",
  security: [{ callbackToken: [] }],
  request: { query: CallbackQuery, body: { required: true, content: { 'application/json': { schema: InventoryReport } } } },
  responses: { 200: json(InventoryAccepted), ...errorResponses },
});

/** The stored columns as the API returns them; null when the machine never reported. */
export function inventoryOf(r: { inventory?: string | null; inventory_at?: number | null }): Inventory | null {
  if (r.inventory === null || r.inventory === undefined || r.inventory_at === null || r.inventory_at === undefined) return null;
  return { ...(JSON.parse(r.inventory) as Omit<Inventory, 'reportedAt'>), reportedAt: iso(r.inventory_at) };
}

/** The labels assignment selectors match for a stored machine: its hw.* labels with people's over them. */
export function selectorLabelsOf(r: { labels: string; hw_labels?: string | null }): Record<string, string> {
  return withHardwareLabels(JSON.parse(r.labels) as Record<string, string>, JSON.parse(r.hw_labels ?? '{}') as Record<string, string>);
}

export function inventoryRoutes(r: OpenAPIHono<CallbackEnv>): void {
  r.openapi(inventoryRoute, async (c) => {
    const report = c.req.valid('json');
    const boot = c.get('boot');
    const { db, clock } = c.get('deps');
    const now = clock.now();
    const labels = hardwareLabels(report);
    // The hw.* labels are selector inputs: the machine's sites' snapshots may change (sync/).
    await noteMachineSites(c as unknown as Context<AppEnv>, boot.machine_id);
    await db.batch([
      sql(
        'UPDATE machines SET inventory = ?, inventory_at = ?, memory_bytes = ?, cpu_count = ?, hw_labels = ? WHERE id = ?',
        JSON.stringify(report),
        now,
        report.memoryBytes,
        report.cpu.count,
        JSON.stringify(labels),
        boot.machine_id,
      ),
      auditOk(c as unknown as Context<AppEnv>, boot.machine_id, boot.site_id, 200, `boot:${boot.id}`),
    ]);
    return c.json({ machineId: boot.machine_id, reportedAt: iso(now), hardwareLabels: labels }, 200);
  });
}
