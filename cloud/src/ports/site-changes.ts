/**
 * What relays' sync needs to hear from the rest of the app: that a site's snapshot inputs changed,
 * once the change has committed. The sync hub (cloud/src/sync/) recomputes the snapshot of each
 * named site its relays wait on and wakes only the relays whose version it changed, so a change at
 * one site wakes nobody elsewhere, and an idle fleet costs no queries.
 *
 * 'all' is for changes that may touch any site: a profile, an image, a fleet-wide assignment.
 * Callers await it (on Workers it is a call to the sites' Durable Objects), so a change is recorded
 * when the request that made it answers; the snapshots are computed after, paced per site, and the
 * relays woken when they are. It never throws.
 */
export interface SiteChanges {
  changed(scope: readonly string[] | 'all'): Promise<void>;
}
