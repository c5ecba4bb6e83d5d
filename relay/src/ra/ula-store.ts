import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../sync/atomic-file.ts';
import { ulaGlobalId, ulaSubnet } from './prefix.ts';

/**
 * The relay's unique local prefix, made once and kept in `<stateDir>/ra/ula.json`: one random
 * /48 (RFC 4193 §3.2) per relay, and a subnet ID per LAN interface, handed out in order of first
 * use and never reused, so a LAN keeps its /64 across restarts and reordered configuration (hosts
 * keep their SLAAC addresses) and two LANs of one relay never share one.
 *
 *   { "globalId": "fd5e:1c2a:9b07", "subnets": { "eth0": 0, "eth1": 1 } }
 */
interface UlaFile {
  globalId: string;
  subnets: Record<string, number>;
}

export function ulaFile(stateDir: string): string {
  return join(stateDir, 'ra', 'ula.json');
}

/** The /64 of each named interface, creating the /48 or a subnet ID on first use. */
export function ulaPrefixes(stateDir: string, names: readonly string[]): Map<string, `${string}/64`> {
  const path = ulaFile(stateDir);
  let state: UlaFile | null = null;
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== null) {
    const parsed = JSON.parse(text) as Partial<UlaFile>;
    if (typeof parsed.globalId !== 'string' || typeof parsed.subnets !== 'object' || parsed.subnets === null) {
      // Never silently replace it: hosts on the LAN hold addresses in the old prefix.
      throw new Error(`${path} is not the relay's ULA record ({"globalId", "subnets"}); move it away to make a new prefix`);
    }
    state = { globalId: parsed.globalId, subnets: { ...parsed.subnets } };
  }
  const changed = state === null || names.some((n) => !(n in state!.subnets));
  state ??= { globalId: ulaGlobalId(randomBytes(5)), subnets: {} };
  for (const name of names) {
    if (name in state.subnets) continue;
    const used = Object.values(state.subnets);
    state.subnets[name] = used.length ? Math.max(...used) + 1 : 0;
  }
  if (changed) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }
  return new Map(names.map((n) => [n, ulaSubnet(state.globalId, state.subnets[n]!)]));
}
