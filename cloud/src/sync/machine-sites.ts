import type { Context } from 'hono';
import { noteSiteChange } from '../audit.ts';
import type { AppEnv } from '../context.ts';
import { sql } from '../ports/sql-database.ts';

/**
 * For writes that change a machine but are audited under the site of a boot (installers' callbacks,
 * the imager's inventory): the machine's own site hears of it too, and every site when it has none,
 * since every site's snapshot lists the machines of no site (boot/site-snapshot.ts). One indexed read.
 */
export async function noteMachineSites(c: Context<AppEnv>, machineId: string): Promise<void> {
  const m = await c.get('deps').db.first<{ site_id: string | null }>(sql('SELECT site_id FROM machines WHERE id = ?', machineId));
  if (m) noteSiteChange(c, [m.site_id]);
}
