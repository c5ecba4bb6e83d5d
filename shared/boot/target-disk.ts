import type { DiskInfo } from '../schemas/imaging.ts';
import type { TargetDisk } from '../schemas/profile.ts';

/**
 * Which disk the imager may overwrite. Writing the wrong disk destroys data, so this refuses rather
 * than guesses: every criterion given must match, and with none given there must be exactly one
 * non-removable disk (USB sticks and card readers are removable; an installer's own stick is one).
 * A path names a disk explicitly, so it may be removable.
 */
export type DiskChoice = { ok: true; disk: DiskInfo } | { ok: false; reason: string };

const GiB = 1024 ** 3;

function describe(d: DiskInfo): string {
  const size = d.size >= GiB ? `${(d.size / GiB).toFixed(1)} GiB` : `${Math.round(d.size / 1024 ** 2)} MiB`;
  const extra = [d.serial ? `serial ${d.serial}` : null, d.model ? d.model : null, d.removable ? 'removable' : null].filter(Boolean);
  return `${d.path} (${size}${extra.length ? `, ${extra.join(', ')}` : ''})`;
}

const sameSerial = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

export function chooseTargetDisk(disks: readonly DiskInfo[], want: TargetDisk | undefined): DiskChoice {
  const seen = disks.length === 0 ? 'none' : disks.map(describe).join('; ');
  const criteria: string[] = [];
  // An empty card reader or CD drive shows up as a disk of size 0: never a target.
  let candidates = disks.filter((d) => d.size > 0);
  if (want?.path !== undefined) {
    criteria.push(`path ${want.path}`);
    candidates = candidates.filter((d) => d.path === want.path);
  }
  if (want?.serial !== undefined) {
    criteria.push(`serial ${want.serial}`);
    candidates = candidates.filter((d) => d.serial !== undefined && sameSerial(d.serial, want.serial!));
  }
  if (want?.size !== undefined) {
    criteria.push(`size ${want.size} bytes`);
    candidates = candidates.filter((d) => d.size === want.size);
  }
  if (want?.path === undefined) candidates = candidates.filter((d) => !d.removable);
  const rule = criteria.length > 0 ? `matching ${criteria.join(' and ')}` : 'non-removable';
  if (candidates.length === 0) return { ok: false, reason: `no ${rule} disk; disks seen: ${seen}` };
  if (candidates.length > 1) {
    return { ok: false, reason: `more than one ${rule} disk (${candidates.map((d) => d.path).join(', ')}): name one in the profile's targetDisk (path, serial or size); disks seen: ${seen}` };
  }
  return { ok: true, disk: candidates[0]! };
}
