import { isCanonicalMac } from '../mac.ts';
import type { Arch } from '../schemas/common.ts';
import { archOfSpec, signedChainOf, type ProfileArch, type ProfileSpec } from '../schemas/profile.ts';
import { archFromCode } from './arch.ts';
import { selectAssignment, type Selectable } from './select.ts';

/**
 * What boots, decided by one pure function from what the relay saw and what the catalog says.
 * The cloud calls it for every boot script and for `explain`; the relay calls it on its snapshot
 * when the WAN is down. It fails closed: anything missing or malformed leads to the local disk or
 * to no answer at all, never to an installer that might wipe a disk it should not.
 */

export interface BootFacts {
  /** Canonical MAC. */
  mac: string;
  /** DHCP option 93, when the relay saw one. */
  archCode?: number | null;
  /** The architecture, when it is known some other way (iPXE's `${platform}`/`${buildarch}`). */
  arch?: Arch | null;
  uuid?: string | null;
  serial?: string | null;
  /** The site whose relay is asking. */
  siteId: string;
}

export interface CatalogMachine {
  id: string;
  mac: string;
  siteId: string | null;
  labels: Record<string, string>;
  arch: Arch | null;
  state: string;
  /** Secure Boot on (true), off (false) or unknown (null/absent): unknown is treated as off, as before it was recorded. */
  secureBoot?: boolean | null;
}

export interface CatalogAssignment extends Selectable {
  profileId: string;
  once: boolean;
}

export interface CatalogProfile {
  id: string;
  name: string;
  spec: ProfileSpec;
}

export interface Catalog {
  /** The machine with this MAC, or null when it has never been seen. */
  machine: CatalogMachine | null;
  assignments: readonly CatalogAssignment[];
  profiles: ReadonlyMap<string, CatalogProfile>;
  /** Ids of one-shot assignments this machine has already completed. */
  consumed: ReadonlySet<string>;
  /** What the site boots for machines with nothing assigned; null = their local disk. */
  siteDefaultProfileId: string | null;
}

export type BootDecision =
  | { action: 'boot'; arch: Arch; profile: CatalogProfile; assignmentId: string | null; once: boolean; reason: string }
  | { action: 'menu'; arch: Arch; profile: CatalogProfile; assignmentId: string | null; reason: string }
  | { action: 'local'; arch: Arch; reason: string }
  | { action: 'ignore'; reason: string };

/** States in which a machine with no assignment still gets the site's default (it is new here). */
const NEW_STATES = new Set(['discovered']);

/**
 * The profile architecture each firmware runs, and its name for people. BIOS and UEFI x64 machines
 * run x86-64 code; 32-bit UEFI firmware (ia32, arm32) cannot start a 64-bit kernel or EFI binary, so
 * only profiles for `any` machine boot there (fail closed).
 */
export const MACHINE_ARCH = {
  bios: { runs: 'x86-64', name: 'x86 BIOS' },
  'uefi-x64': { runs: 'x86-64', name: 'x86-64 UEFI' },
  'uefi-ia32': { runs: null, name: 'x86 32-bit UEFI' },
  'uefi-arm32': { runs: null, name: 'ARM 32-bit UEFI' },
  'uefi-arm64': { runs: 'arm64', name: 'ARM 64-bit UEFI' },
} as const satisfies Record<Arch, { runs: Exclude<ProfileArch, 'any'> | null; name: string }>;

/** Why a machine of `arch` must not get `profile`, or null when it may. */
export function archMismatch(arch: Arch, profile: CatalogProfile): string | null {
  const wanted = archOfSpec(profile.spec);
  if (wanted === 'any' || MACHINE_ARCH[arch].runs === wanted) return null;
  return `profile ${profile.name} is for ${wanted}; this machine is ${MACHINE_ARCH[arch].name}: local disk`;
}

/**
 * Why a UEFI x64 machine with Secure Boot on cannot boot `profile`, or null when it can. Its firmware
 * starts only signed binaries: Debian's iPXE is not signed, so only the shim → GRUB chain works, and
 * only for the kinds GRUB can boot. Unknown (null) is treated as off: the iPXE path as before.
 */
export function secureBootRefusal(arch: Arch, secureBoot: boolean | null | undefined, profile: CatalogProfile): string | null {
  if (arch !== 'uefi-x64' || secureBoot !== true) return null;
  const p = profile.name;
  switch (profile.spec.kind) {
    case 'wimboot':
      return `Secure Boot is on for this machine and profile ${p} is wimboot, which cannot run under Secure Boot (wimboot and iPXE are unsigned): local disk`;
    case 'ipxe':
      return `Secure Boot is on for this machine and profile ${p} is an iPXE script, which cannot run under Secure Boot (its firmware refuses iPXE): local disk`;
    case 'linux':
    case 'imaging':
    case 'menu':
      return signedChainOf(profile.spec) ? null : `Secure Boot is on for this machine and profile ${p} boots through iPXE, which its firmware refuses: give ${p} a --shim and --grub`;
    default:
      return null;
  }
}

/**
 * The first loader the machine is handed for a boot or menu decision: the signed shim → GRUB chain
 * when the profile names one and the machine is UEFI x64, iPXE otherwise; null when nothing netboots.
 */
export function loaderOf(d: BootDecision): 'ipxe' | 'shim' | null {
  if (d.action !== 'boot' && d.action !== 'menu') return null;
  return d.arch === 'uefi-x64' && signedChainOf(d.profile.spec) ? 'shim' : 'ipxe';
}

function withProfile(arch: Arch, machine: CatalogMachine | null, profile: CatalogProfile | undefined, assignment: CatalogAssignment | null, reason: string): BootDecision {
  if (!profile) return { action: 'local', arch, reason: `${reason}, but its profile no longer exists: local disk` };
  if (profile.spec.kind === 'local') return { action: 'local', arch, reason: `${reason}: profile ${profile.name} boots the local disk` };
  const mismatch = archMismatch(arch, profile);
  if (mismatch) return { action: 'local', arch, reason: `${reason}: ${mismatch}` };
  const refusal = secureBootRefusal(arch, machine?.secureBoot, profile);
  if (refusal) return { action: 'local', arch, reason: `${reason}: ${refusal}` };
  if (profile.spec.kind === 'menu') return { action: 'menu', arch, profile, assignmentId: assignment?.id ?? null, reason: `${reason}: menu ${profile.name}` };
  return { action: 'boot', arch, profile, assignmentId: assignment?.id ?? null, once: assignment?.once ?? false, reason: `${reason}: ${profile.name}` };
}

export function decideBoot(facts: BootFacts, catalog: Catalog): BootDecision {
  if (!isCanonicalMac(facts.mac)) return { action: 'ignore', reason: 'malformed MAC' };
  if (!facts.siteId) return { action: 'ignore', reason: 'no site' };
  let arch: Arch | null = null;
  if (facts.archCode !== undefined && facts.archCode !== null) {
    const a = archFromCode(facts.archCode);
    if (!a) return { action: 'ignore', reason: `unsupported client architecture ${facts.archCode}` };
    arch = a.arch;
  }
  arch ??= facts.arch ?? catalog.machine?.arch ?? null;
  if (!arch) return { action: 'ignore', reason: 'unknown client architecture' };

  const m = catalog.machine;
  if (!m) {
    const p = catalog.siteDefaultProfileId;
    if (p === null) return { action: 'local', arch, reason: 'unknown machine; the site default is the local disk' };
    return withProfile(arch, null, catalog.profiles.get(p), null, 'unknown machine, site default');
  }
  if (m.mac !== facts.mac) return { action: 'ignore', reason: 'catalog machine does not match the MAC' };
  if (m.siteId !== null && m.siteId !== facts.siteId) {
    return { action: 'local', arch, reason: 'the machine belongs to another site; not netbooting it here' };
  }

  const selection = selectAssignment({ id: m.id, mac: m.mac, siteId: facts.siteId, labels: m.labels, arch }, catalog.assignments);
  if (!selection) {
    const p = catalog.siteDefaultProfileId;
    if (NEW_STATES.has(m.state) && p !== null) return withProfile(arch, m, catalog.profiles.get(p), null, 'nothing assigned, site default');
    return { action: 'local', arch, reason: 'nothing assigned: local disk' };
  }
  const a = selection.assignment;
  if (a.once && catalog.consumed.has(a.id)) {
    return { action: 'local', arch, reason: `one-shot consumed (${selection.reason}): local disk until re-provisioned` };
  }
  return withProfile(arch, m, catalog.profiles.get(a.profileId), a, selection.reason);
}
