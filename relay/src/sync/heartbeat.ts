import type { RelayConflict } from '../../../shared/relay-conflicts.ts';
import type { RelayLan } from '../../../shared/schemas/access.ts';
import type { Logger } from '../log.ts';
import { sleep } from './backoff.ts';
import type { CloudClient } from './cloud-client.ts';

export interface HeartbeatBody {
  version?: string;
  address?: string;
  /** The LANs this relay serves (mode, subnet, DHCP range): the cloud compares them with its siblings'. */
  lans?: RelayLan[];
}

/**
 * The running heartbeat. Calling it stops it (as before issue 14, so `await stopHeartbeat()` still
 * works); `conflicts()` is what the cloud said in its last answer.
 */
export interface HeartbeatLoop {
  (): Promise<void>;
  stop(): Promise<void>;
  /**
   * The site's other relays whose LANs collide with ours (overlapping DHCP ranges on one subnet, …),
   * from the last answer; empty before the first one. Its length is a gauge for /metrics.
   */
  conflicts(): readonly RelayConflict[];
}

/**
 * POST /v1/relay/heartbeat every minute so operators see the relay alive, with its version and LANs.
 * The answer names the relays whose DHCP pools overlap ours: each is logged (at most once a minute per
 * relay and subnet) until the configuration is fixed, since two servers leasing from one range can
 * give one address to two machines and only the cloud sees both configurations.
 */
export function startHeartbeat(client: CloudClient, log: Logger, body: HeartbeatBody, intervalMs = 60_000): HeartbeatLoop {
  const stop = new AbortController();
  let current: readonly RelayConflict[] = [];
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        const r = await client.json<{ conflicts?: RelayConflict[] }>({ method: 'POST', path: '/v1/relay/heartbeat', json: body, retry: true, signal: stop.signal });
        if (r.status !== 200) log.once(`heartbeat-${r.status}`, 'the cloud refused the heartbeat', { status: r.status });
        else noteConflicts(Array.isArray(r.body?.conflicts) ? r.body.conflicts : []);
      } catch {
        // unreachable: the sync loop already says so
      }
      if (!(await sleep(intervalMs, stop.signal))) break;
    }
  })();
  function noteConflicts(next: RelayConflict[]): void {
    for (const c of next) {
      log.once(`lan-conflict:${c.relayId}:${c.subnet}`, 'another relay of this site collides with this one on a LAN: give each relay its own DHCP range', {
        relay: c.relayName,
        relayId: c.relayId,
        subnet: c.subnet,
        conflict: c.reason,
      });
    }
    if (current.length > 0 && next.length === 0) log.info('no more LAN conflicts with other relays of this site');
    current = next;
  }
  const halt = async () => {
    stop.abort();
    await loop;
  };
  return Object.assign(halt, { stop: halt, conflicts: () => current });
}
