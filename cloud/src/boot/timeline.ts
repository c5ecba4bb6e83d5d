import { LEADING_STAGES, type BootStage, type BootState } from '../../../shared/schemas/boot-events.ts';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import { iso } from '../time.ts';

/**
 * Groups a machine's events into boots, as a pure function of rows already read.
 *
 * An event that names its boot belongs to it. Otherwise time decides: DHCP, TFTP and the script
 * fetch happen just before the cloud renders a script (which is when a boot record is made), so
 * such a "leading" event belongs to the boot that starts within LEAD_MS after it; any other event
 * belongs to the boot in progress at its time. A finished boot takes nothing after it finished:
 * the machine's next DHCP after an install is its first local-disk boot, which has no boot record,
 * and events no record accounts for are grouped by themselves (outcome `unknown`).
 */

/** How long before its script is rendered a boot's DHCP/TFTP may start (firmware + DHCP + TFTP + iPXE start, with slack). */
export const LEAD_MS = 5 * 60_000;

export interface BootRecord {
  id: string;
  profile_id: string | null;
  state: BootState;
  progress: string | null;
  log_tail: string | null;
  callback_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventRecord {
  id: string;
  boot_id: string | null;
  source: 'relay' | 'cloud' | 'callback';
  stage: BootStage;
  at: number;
  duration_ms: number | null;
  detail: string | null;
}

type Group = { boot: BootRecord | null; events: EventRecord[] };

const finished = (b: BootRecord) => b.state === 'succeeded' || b.state === 'failed';

/** `boots` and `events` sorted by time, oldest first. Returns groups newest first. */
export function groupTimeline(boots: readonly BootRecord[], events: readonly EventRecord[], now: number): Timeline['boots'] {
  const byId = new Map(boots.map((b) => [b.id, { boot: b, events: [] as EventRecord[] }]));
  const groups: Group[] = [...byId.values()];
  let loose: Group | null = null;
  let looseSlot = -2;

  for (const e of events) {
    const named = e.boot_id === null ? undefined : byId.get(e.boot_id);
    if (named) {
      named.events.push(e);
      continue;
    }
    // Index of the last boot that started at or before the event.
    let i = -1;
    while (i + 1 < boots.length && boots[i + 1]!.created_at <= e.at) i++;
    const next = boots[i + 1];
    const leading = LEADING_STAGES.has(e.stage);
    if (leading && next && next.created_at - e.at <= LEAD_MS) {
      byId.get(next.id)!.events.push(e);
      continue;
    }
    const current = boots[i];
    if (current && (!finished(current) || e.at <= current.updated_at)) {
      byId.get(current.id)!.events.push(e);
      continue;
    }
    // A new unaccounted boot begins at a leading stage after later ones, after a long gap, or past a boot record.
    const last = loose?.events[loose.events.length - 1];
    const restart = last !== undefined && (e.at - last.at > LEAD_MS || (leading && loose!.events.some((x) => !LEADING_STAGES.has(x.stage))));
    if (!loose || looseSlot !== i || restart) {
      loose = { boot: null, events: [] };
      looseSlot = i;
      groups.push(loose);
    }
    loose.events.push(e);
  }

  return groups
    .map((g) => toTimelineBoot(g, now))
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
}

function toTimelineBoot(g: Group, now: number): Timeline['boots'][number] {
  const ev = [...g.events].sort((a, b) => a.at - b.at);
  const b = g.boot;
  const times = ev.map((e) => e.at);
  if (b) times.push(b.created_at, b.updated_at);
  return {
    bootId: b?.id ?? null,
    startedAt: iso(Math.min(...times)),
    endedAt: iso(Math.max(...times)),
    outcome: outcome(b, now),
    profileId: b?.profile_id ?? null,
    progress: b?.progress ? (JSON.parse(b.progress) as Record<string, unknown>) : null,
    logTail: b?.log_tail ?? null,
    stages: ev.map((e, k) => ({
      id: e.id,
      stage: e.stage,
      source: e.source,
      at: iso(e.at),
      durationMs: e.duration_ms ?? (k + 1 < ev.length ? ev[k + 1]!.at - e.at : null),
      detail: e.detail === null ? null : (JSON.parse(e.detail) as Record<string, unknown>),
    })),
  };
}

function outcome(b: BootRecord | null, now: number): Timeline['boots'][number]['outcome'] {
  if (!b) return 'unknown';
  if (finished(b)) return b.state as 'succeeded' | 'failed';
  // Never heard back and can no longer call back: the install hung, or the machine was switched off.
  return b.callback_expires_at !== null && b.callback_expires_at <= now ? 'abandoned' : 'in-progress';
}
