import type { RelayEvent } from '../../shared/schemas/boot-events.ts';

/** What a server reports: the queue gives it an id and, when missing, a timestamp. */
export type StageEvent = Omit<RelayEvent, 'id' | 'at'> & { at?: string };

/**
 * The port every LAN server (DHCP, TFTP, HTTP) reports boot stages into. `emit` never blocks and
 * never throws: the adapter (sync/event-queue.ts) writes to disk and ships later, so a socket loop
 * is never slowed by the WAN.
 */
export interface EventSink {
  emit(e: StageEvent): void;
}
