/**
 * What a relay's sync client understands, sent on every `GET /v1/relay/sync` (issue 16). Relays
 * released before deltas and pages read a delta as an unreadable snapshot (and stay on a stale one)
 * and a first page as the whole site (and answer the other 45,000 machines as unknown), so the cloud
 * should send a delta or a paged snapshot only to a relay that lists the feature here.
 */
export const SYNC_FEATURES_HEADER = 'x-edgeboot-sync-features';

export const SYNC_FEATURES = ['delta', 'pages'] as const;
export type SyncFeature = (typeof SYNC_FEATURES)[number];

/** The features a header value lists (comma-separated, case-insensitive); unknown names are ignored. */
export function parseSyncFeatures(value: string | null | undefined): Set<SyncFeature> {
  const out = new Set<SyncFeature>();
  for (const part of (value ?? '').split(',')) {
    const name = part.trim().toLowerCase();
    if ((SYNC_FEATURES as readonly string[]).includes(name)) out.add(name as SyncFeature);
  }
  return out;
}
