import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeDhcp, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { fromHex } from '../../../relay/src/dhcp/read.ts';

/** The captured packets in fixtures/ (see fixtures/regenerate.sh for how they were made). */
export const FIXTURE_DIR = join(import.meta.dirname, 'fixtures');

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.hex'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function fixtureBytes(name: string): Uint8Array {
  return fromHex(readFileSync(join(FIXTURE_DIR, `${name}.hex`), 'utf8'));
}

export function fixtureDump(name: string): string {
  return readFileSync(join(FIXTURE_DIR, `${name}.txt`), 'utf8');
}

export function fixture(name: string): DhcpPacket {
  return decodeDhcp(fixtureBytes(name));
}
