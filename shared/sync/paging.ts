import { base64url, fromBase64url } from '../crypto/base64url.ts';
import type { RelaySnapshot, RelaySnapshotPage } from '../schemas/relay-sync.ts';

/**
 * Paging of very large snapshots (issue 16: a 50,000-machine site is ~5 MB of JSON): one answer that
 * size holds a Worker's memory and a WAN link for seconds, and a relay that loses it half-way starts
 * again from zero. The first answer carries the first page and a cursor; the relay fetches
 * `GET /v1/relay/sync/page?version=<v>&cursor=<c>` until the cursor is null and installs the snapshot
 * only when it is complete and its version checks.
 */

/** Machines per page. A few hundred KiB of JSON: small enough for any proxy, few enough round trips. */
export const SYNC_PAGE_MACHINES = 5_000;

/** A cursor that is not one of ours, or not for this snapshot: the cloud answers 400 with the message. */
export class SyncCursorError extends Error {
  constructor(message: string) {
    super(`invalid sync cursor: ${message}`);
    this.name = 'SyncCursorError';
  }
}

/** Where the next page starts: the index of its first machine, and the MAC just before it (a check). */
export interface SyncCursor {
  index: number;
  lastMac: string;
}

const CURSOR_PREFIX = 'c1';
const CURSOR_TEXT = /^c1:([1-9][0-9]{0,8}):(.{1,64})$/s;
const BASE64URL = /^[A-Za-z0-9_-]{1,200}$/;

/** Opaque to the relay: base64url of `c1:<index>:<last MAC of the previous page>`. */
export function encodeCursor(c: SyncCursor): string {
  return base64url(new TextEncoder().encode(`${CURSOR_PREFIX}:${c.index}:${c.lastMac}`));
}

/** The cursor in `s`, or a SyncCursorError saying what is wrong with it. */
export function decodeCursor(s: string): SyncCursor {
  if (!BASE64URL.test(s)) throw new SyncCursorError('not a base64url string of 1 to 200 characters');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(fromBase64url(s));
  } catch {
    throw new SyncCursorError('does not decode to text');
  }
  const m = CURSOR_TEXT.exec(text);
  if (!m) throw new SyncCursorError('not a cursor this cloud issued');
  return { index: Number(m[1]), lastMac: m[2]! };
}

/**
 * What to send for a full snapshot: itself when it fits one page, else its first `pageSize` machines
 * with `next` set to the cursor of the rest (`version`, `siteId`, `unknownMachines` are the whole
 * snapshot's).
 */
export function firstPage(snapshot: RelaySnapshot, pageSize: number = SYNC_PAGE_MACHINES): RelaySnapshot {
  const { next: _ignored, ...whole } = snapshot;
  if (whole.machines.length <= pageSize) return whole;
  return { ...whole, machines: whole.machines.slice(0, pageSize), next: encodeCursor({ index: pageSize, lastMac: whole.machines[pageSize - 1]!.mac }) };
}

/**
 * The page of `snapshot` that `cursor` points at (the cloud checks beforehand that `snapshot` is the
 * site's current one at the requested version, else 410). Throws SyncCursorError for a cursor that is
 * garbage or that does not fall inside this snapshot.
 */
export function pageAfter(snapshot: RelaySnapshot, cursor: string, pageSize: number = SYNC_PAGE_MACHINES): RelaySnapshotPage {
  const { index, lastMac } = decodeCursor(cursor);
  const machines = snapshot.machines;
  if (index >= machines.length) throw new SyncCursorError(`points past the end of the snapshot (${index} of ${machines.length} machines)`);
  if (machines[index - 1]!.mac !== lastMac) throw new SyncCursorError('does not belong to this snapshot');
  const end = index + pageSize;
  return {
    version: snapshot.version,
    machines: machines.slice(index, end),
    next: end < machines.length ? encodeCursor({ index: end, lastMac: machines[end - 1]!.mac }) : null,
  };
}
