import type { Logger } from '../log.ts';
import { sleep } from './backoff.ts';
import type { CloudClient } from './cloud-client.ts';

/** POST /v1/relay/heartbeat every minute so operators see the relay alive, with its version. */
export function startHeartbeat(client: CloudClient, log: Logger, body: { version?: string; address?: string }, intervalMs = 60_000): () => Promise<void> {
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        const r = await client.json({ method: 'POST', path: '/v1/relay/heartbeat', json: body, retry: true, signal: stop.signal });
        if (r.status !== 200) log.once(`heartbeat-${r.status}`, 'the cloud refused the heartbeat', { status: r.status });
      } catch {
        // unreachable: the sync loop already says so
      }
      if (!(await sleep(intervalMs, stop.signal))) break;
    }
  })();
  return async () => {
    stop.abort();
    await loop;
  };
}
