import { newId } from '../../../shared/ids.ts';
import type { BootStage } from '../../../shared/schemas/boot-events.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';

export interface CloudEvent {
  mac: string;
  siteId: string;
  relayId: string | null;
  bootId: string | null;
  source: 'cloud' | 'callback';
  stage: BootStage;
  at: number;
  detail?: Record<string, unknown>;
}

/** A timeline entry the cloud itself witnessed, to put in the same batch as the change it records. */
export function cloudEvent(e: CloudEvent): SqlStatement {
  return sql(
    'INSERT INTO boot_events (id, mac, site_id, relay_id, boot_id, source, stage, at, duration_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)',
    newId('event', e.at),
    e.mac,
    e.siteId,
    e.relayId,
    e.bootId,
    e.source,
    e.stage,
    e.at,
    e.detail === undefined ? null : JSON.stringify(e.detail),
  );
}
