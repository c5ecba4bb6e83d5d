import type { ImageArch } from '../schemas/image.ts';
import { archOfSpec, signedChainOf, type ProfileArch, type ProfileSpec } from '../schemas/profile.ts';
import { describeBinary, PE_SUBSYSTEM, type BinaryInfo } from './binary-info.ts';

/**
 * The save-time rules between a profile and the images it names, as one pure function: the cloud
 * loads the facts (rows, and what each binary's first bytes say) and this decides. Each rule exists
 * so that a machine never gets stuck in a loop at boot time on something a save could have refused:
 *
 * - shim and GRUB come together (shim loads `grubx64.efi` and nothing else);
 * - the shim is an x86-64 EFI application with an Authenticode signature (the firmware checks it
 *   against Microsoft's key; an unsigned one is "Access Denied");
 * - the GRUB is an x86-64 EFI application (shim checks its signature with the distribution's key);
 * - under a shim the kernel is signed too (GRUB asks shim to verify it and refuses it otherwise);
 * - a menu with shim and GRUB is rendered as a GRUB menu: its items must be kinds GRUB boots;
 * - the profile's arch agrees with the arch of every image it boots, and is filled in from the
 *   kernel's when left out.
 */

/** What the cloud knows about one image. */
export interface ImageFacts {
  id: string;
  name: string;
  /** Null until its content is stored. */
  size: number | null;
  arch: ImageArch;
  /** What its first bytes say; null when it has no content yet. */
  binary: BinaryInfo | null;
}

/** A menu item's profile, for menus that name a shim and a GRUB. */
export interface ItemProfile {
  name: string;
  spec: ProfileSpec;
}

export interface Issue {
  path: string;
  message: string;
}

/** Kinds GRUB can boot from a menu: it loads Linux kernels (linux, imaging) and chains the local disk. */
export const GRUB_MENU_KINDS: readonly ProfileSpec['kind'][] = ['linux', 'imaging', 'local'];

/** Problems with an EFI binary that a UEFI x64 firmware or shim must start; null when there are none. */
function efiX64Problem(role: 'shim' | 'GRUB', img: ImageFacts): string | null {
  const b = img.binary;
  if (!b) return `${role} image ${img.name} has no content yet: upload it before naming it as the ${role}`;
  if (b.format !== 'pe' || b.subsystem !== PE_SUBSYSTEM.efiApplication) return `${role} image ${img.name} is not an EFI application (its bytes say: ${describeBinary(b)})`;
  if (b.cpu !== 'x86-64') {
    const what = b.cpu === 'arm64' ? 'an arm64' : `a ${b.cpu ?? 'non-x86-64'}`;
    return `${role} image ${img.name} is ${what} EFI binary; UEFI x64 machines need an x86-64 one`;
  }
  return null;
}

/** Null when `img` carries an Authenticode signature inside its bytes; otherwise why not. */
function signatureProblem(img: ImageFacts, unsigned: string): string | null {
  const sig = img.binary?.signature;
  if (!sig) return unsigned;
  if (img.size !== null && sig.offset + sig.size > img.size) {
    return `the signature of ${img.name} ends at byte ${sig.offset + sig.size}, past its ${img.size} bytes: a truncated upload? upload the whole file again`;
  }
  return null;
}

function kernelProblem(kernel: ImageFacts | undefined): string | null {
  if (!kernel) return null; // reported as a missing image already
  if (!kernel.binary) return `kernel ${kernel.name} has no content yet, so its Secure Boot signature cannot be checked: upload it first`;
  return signatureProblem(kernel, `kernel ${kernel.name} has no Secure Boot signature: GRUB under shim would refuse it`);
}

export interface ProfileImagesResult {
  issues: Issue[];
  /** The spec as it should be stored: its arch filled in from its images when it was left out. */
  spec: ProfileSpec;
}

/**
 * Checks `spec` against the facts of the images it names (`images`, by id; missing ids are left to
 * the caller's existence check) and, for menus, of its items' profiles (`items`, by id).
 */
export function checkProfileImages(spec: ProfileSpec, images: ReadonlyMap<string, ImageFacts>, items: ReadonlyMap<string, ItemProfile> = new Map()): ProfileImagesResult {
  const issues: Issue[] = [];
  if (spec.kind === 'local' || spec.kind === 'ipxe') return { issues, spec };

  // 1. Architecture: every image with a known arch must agree; the kernel's (or wimboot's) decides.
  const archOf: [path: string, id: string][] = [];
  if (spec.kind === 'linux' || spec.kind === 'imaging') {
    archOf.push(['spec.kernel', spec.kernel], ...spec.initrds.map((id, i): [string, string] => [`spec.initrds.${i}`, id]));
    if (spec.kind === 'imaging') archOf.push(['spec.diskImage', spec.diskImage]);
  } else if (spec.kind === 'wimboot') {
    archOf.push(...(['wimboot', 'bcd', 'bootSdi', 'bootWim'] as const).map((k): [string, string] => [`spec.${k}`, spec[k]]));
  }
  let arch: ProfileArch | undefined = spec.kind === 'wimboot' ? 'x86-64' : spec.arch;
  const decidedBy = spec.arch !== undefined ? 'the profile' : spec.kind === 'wimboot' ? 'wimboot (x86-64 only)' : null;
  let archSource = decidedBy;
  for (const [path, id] of archOf) {
    const img = images.get(id);
    if (!img || img.arch === 'any') continue;
    if (arch === undefined) {
      arch = img.arch;
      archSource = `image ${img.name}`;
    } else if (arch === 'any') {
      issues.push({ path: 'spec.arch', message: `image ${img.name} is for ${img.arch}: a profile that boots it cannot be for any architecture` });
      break;
    } else if (img.arch !== arch) {
      issues.push({ path, message: `image ${img.name} is for ${img.arch}, but ${archSource} is for ${arch}` });
    }
  }

  // 2. The signed chain.
  if (spec.kind === 'linux' || spec.kind === 'imaging' || spec.kind === 'menu') {
    if ((spec.shim === undefined) !== (spec.grub === undefined)) {
      const missing = spec.shim === undefined ? 'shim' : 'grub';
      issues.push({ path: `spec.${missing}`, message: `a shim and a GRUB go together (shim loads GRUB): give both or neither` });
    }
    const chain = signedChainOf(spec);
    if (chain) {
      if (arch === 'arm64') issues.push({ path: 'spec.shim', message: `shim and GRUB boot UEFI x64 machines; this profile is for arm64` });
      const shim = images.get(chain.shim);
      if (shim) {
        const p = efiX64Problem('shim', shim) ?? signatureProblem(shim, `shim image ${shim.name} has no Authenticode signature: Secure Boot firmware would refuse it`);
        if (p) issues.push({ path: 'spec.shim', message: p });
      }
      const grub = images.get(chain.grub);
      if (grub) {
        const p = efiX64Problem('GRUB', grub);
        if (p) issues.push({ path: 'spec.grub', message: p });
      }
      if (spec.kind === 'linux' || spec.kind === 'imaging') {
        const p = kernelProblem(images.get(spec.kernel));
        if (p) issues.push({ path: 'spec.kernel', message: p });
      } else {
        spec.items.forEach((item, i) => {
          const target = items.get(item.profileId);
          if (!target) return; // reported as a missing profile already
          const path = `spec.items.${i}.profileId`;
          if (!GRUB_MENU_KINDS.includes(target.spec.kind)) {
            issues.push({ path, message: `profile ${target.name} is a ${target.spec.kind} profile, which GRUB cannot boot: a menu with a shim and GRUB lists only linux, imaging and local profiles` });
            return;
          }
          if (archOfSpec(target.spec) === 'arm64') issues.push({ path, message: `profile ${target.name} is for arm64; this menu's shim and GRUB boot UEFI x64 machines` });
          if (target.spec.kind === 'linux' || target.spec.kind === 'imaging') {
            const p = kernelProblem(images.get(target.spec.kernel));
            if (p) issues.push({ path, message: `profile ${target.name}: ${p}` });
          }
        });
      }
    }
  }
  const resolved = arch !== undefined && spec.kind !== 'wimboot' && spec.arch === undefined ? ({ ...spec, arch } as ProfileSpec) : spec;
  return { issues, spec: resolved };
}
