import { newId } from '../../../shared/ids.ts';
import type { Role } from '../../../shared/schemas/access.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import { newSecret, sha256Hex } from './secrets.ts';

/** Characters of the secret kept in clear, so a person can tell their tokens apart in a list. */
const PREFIX_LENGTH = 12;

export interface TokenRow {
  id: string;
  name: string;
  role: Role;
  site_ids: string | null;
  relay_id: string | null;
  prefix: string;
  created_by: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface TokenSpec {
  name: string;
  role: Role;
  siteIds: readonly string[] | null;
  relayId?: string | null;
  createdBy: string;
  expiresAt?: number | null;
}

/**
 * A new token: its row, the INSERT that stores it (the secret's SHA-256, never the secret) for the
 * caller's batch, and the secret to show once.
 */
export async function issueToken(spec: TokenSpec, now: number): Promise<{ secret: string; row: TokenRow; insert: SqlStatement }> {
  const secret = newSecret(spec.role === 'relay' ? 'ebr' : 'ebt');
  const row: TokenRow = {
    id: newId('token', now),
    name: spec.name,
    role: spec.role,
    site_ids: spec.siteIds === null ? null : JSON.stringify(spec.siteIds),
    relay_id: spec.relayId ?? null,
    prefix: secret.slice(0, PREFIX_LENGTH),
    created_by: spec.createdBy,
    created_at: now,
    expires_at: spec.expiresAt ?? null,
    revoked_at: null,
    last_used_at: null,
  };
  const insert = sql(
    'INSERT INTO tokens (id, name, role, site_ids, relay_id, hash, prefix, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    row.id,
    row.name,
    row.role,
    row.site_ids,
    row.relay_id,
    sha256Hex(secret),
    row.prefix,
    row.created_by,
    row.created_at,
    row.expires_at,
  );
  return { secret, row, insert };
}
