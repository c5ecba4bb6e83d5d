import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRelayKeyPair, isRelayPublicKey, type RelayKeyPair } from '../../../shared/crypto/seal.ts';
import type { Logger } from '../log.ts';
import { backoffMs, sleep } from '../sync/backoff.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { writeFileAtomic } from '../sync/atomic-file.ts';

/**
 * The relay's X25519 key pair for sealed BMC credentials (shared/crypto/seal.ts): made once, kept in
 * the state dir (0600) beside credentials.json, its public half registered with the cloud by
 * PUT /v1/relay/seal-key. A relay enrolled before BMCs existed gets its pair the same way at start.
 */
export const SEAL_KEY_FILE = 'seal-key.json';

export async function loadOrCreateSealKey(stateDir: string): Promise<RelayKeyPair> {
  const path = join(stateDir, SEAL_KEY_FILE);
  try {
    const k = JSON.parse(readFileSync(path, 'utf8')) as RelayKeyPair;
    if (isRelayPublicKey(k.publicKey) && typeof k.privateKey === 'string') return k;
    throw new Error(`${path} is damaged: move it away to make a new key (then set the site's BMC passwords again)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const k = await generateRelayKeyPair();
  writeFileAtomic(path, `${JSON.stringify(k)}\n`, 0o600);
  return k;
}

/** Registers the public key until the cloud has it; a 409 (another key registered) is logged once and ends the attempts. */
export async function registerSealKey(client: CloudClient, keys: RelayKeyPair, log: Logger, signal: AbortSignal): Promise<boolean> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const r = await client.json<{ error?: { message?: string } }>({ method: 'PUT', path: '/v1/relay/seal-key', json: { publicKey: keys.publicKey }, retry: true, signal });
      if (r.status === 200) return true;
      if (r.status === 409 || r.status === 400) {
        log.error('the cloud refused this relay\'s sealing key: BMC credentials cannot be opened', { status: r.status, reason: r.body?.error?.message });
        return false;
      }
    } catch {
      // unreachable: the sync loop already says so
    }
    if (!(await sleep(backoffMs(attempt, 1_000, 60_000), signal))) break;
  }
  return false;
}
