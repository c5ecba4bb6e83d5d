/**
 * Profile specs as people write them: images and menu items named by name or id. The API stores
 * ids; these helpers walk the fields of each kind that hold references (the same fields the API
 * checks in cloud/src/routes/profiles.ts) and map them, so `profiles create`, `profiles update`
 * and `apply` accept names and show names.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { idPattern } from '../../shared/ids.ts';
import { Description, Name } from '../../shared/schemas/common.ts';
import type { Image } from '../../shared/schemas/image.ts';
import { ProfileSpec, type Profile } from '../../shared/schemas/profile.ts';
import type { ApiClient } from './api-client.ts';
import { CliError } from './errors.ts';
import { EXIT } from './exit-codes.ts';

export type RefMapper = (ref: string, path: string) => string;

/** The image-holding fields of each kind (besides `initrds`, a list of images). */
const IMAGE_FIELDS: Record<string, readonly string[]> = {
  linux: ['kernel', 'shim', 'grub'],
  wimboot: ['wimboot', 'bcd', 'bootSdi', 'bootWim'],
  imaging: ['kernel', 'diskImage', 'shim', 'grub'],
  menu: ['shim', 'grub'],
};

/**
 * A copy of `spec` with every image reference passed through `image` and every menu item's
 * profile through `profile` (each gets the reference and its path, e.g. "spec.initrds.1").
 */
export function mapSpecRefs<T extends { kind: string }>(spec: T, image: RefMapper, profile: RefMapper): T {
  const out: Record<string, unknown> = { ...spec };
  for (const field of IMAGE_FIELDS[spec.kind] ?? []) {
    if (typeof out[field] === 'string') out[field] = image(out[field], `spec.${field}`);
  }
  if ((spec.kind === 'linux' || spec.kind === 'imaging') && Array.isArray(out.initrds)) out.initrds = (out.initrds as string[]).map((r, i) => image(r, `spec.initrds.${i}`));
  if (spec.kind === 'menu' && Array.isArray(out.items)) {
    out.items = (out.items as { profileId: string }[]).map((item, i) => ({ ...item, profileId: profile(item.profileId, `spec.items.${i}.profileId`) }));
  }
  return out as T;
}

/** Name → id lookups over the image and profile catalogs, fetched once, for commands that take names. */
export async function catalogRefs(api: ApiClient): Promise<{ image: RefMapper; profile: RefMapper }> {
  const [images, profiles] = await Promise.all([api.list<Image>('/v1/images'), api.list<Profile>('/v1/profiles')]);
  const lookup = (kind: 'image' | 'profile', items: { id: string; name: string }[]): RefMapper => {
    const byName = new Map(items.map((x) => [x.name, x.id]));
    return (ref, path) => {
      if (idPattern(kind).test(ref)) return ref;
      const id = byName.get(ref);
      if (!id) throw new CliError(EXIT.NOT_FOUND, `${path}: no ${kind} named ${JSON.stringify(ref)}`, { hint: `\`edgeboot ${kind}s list\` shows the ${kind}s` });
      return id;
    };
  };
  return { image: lookup('image', images), profile: lookup('profile', profiles) };
}

export interface SpecFlags {
  kind?: string;
  kernel?: string;
  initrd?: string[];
  cmdline?: string;
  script?: string;
  scriptFile?: string;
  title?: string;
  timeout?: number;
  item?: string[];
  defaultItem?: number | false;
  wimboot?: string;
  bcd?: string;
  bootSdi?: string;
  bootWim?: string;
  diskImage?: string;
  targetDisk?: string;
  targetSerial?: string;
  verify?: string;
  onSuccess?: string;
  onFailure?: string;
  answerFile?: string[];
  shim?: string;
  grub?: string;
  arch?: string;
}

export const SPEC_FLAG_NAMES: readonly (keyof SpecFlags)[] = [
  'kind', 'kernel', 'initrd', 'cmdline', 'script', 'scriptFile', 'title', 'timeout', 'item', 'defaultItem', 'wimboot', 'bcd', 'bootSdi', 'bootWim',
  'diskImage', 'targetDisk', 'targetSerial', 'verify', 'onSuccess', 'onFailure', 'answerFile', 'shim', 'grub', 'arch',
];

/**
 * A spec from command-line flags, on top of `base` (the profile's current spec, for updates) when
 * the kind stays the same. Validated with the API's own schema, so a bad spec is a usage error
 * here rather than a 400 there.
 */
export function specFromFlags(f: SpecFlags, base?: Record<string, unknown>): ProfileSpec {
  const kind = f.kind ?? (base?.kind as string | undefined);
  if (!kind) throw new CliError(EXIT.USAGE, 'a profile needs --kind (linux, ipxe, local, menu, wimboot, imaging) or --file');
  const s: Record<string, unknown> = base && base.kind === kind ? { ...base } : { kind };
  const set = (key: string, v: unknown) => {
    if (v !== undefined) s[key] = v;
  };
  // A new kernel brings its own arch (the server fills it in) unless --arch says otherwise.
  if (f.kernel !== undefined && f.arch === undefined) delete s.arch;
  set('kernel', f.kernel);
  set('shim', f.shim);
  set('grub', f.grub);
  set('arch', f.arch);
  set('initrds', f.initrd);
  set('cmdline', f.cmdline);
  set('script', f.scriptFile !== undefined ? readText(f.scriptFile) : f.script);
  set('title', f.title);
  set('timeoutSeconds', f.timeout);
  if (f.item) {
    s.items = f.item.map((text) => {
      const at = text.lastIndexOf('=');
      if (at < 1) throw new CliError(EXIT.USAGE, `--item ${JSON.stringify(text)}: expected "label=profile"`);
      return { label: text.slice(0, at), profileId: text.slice(at + 1) };
    });
  }
  set('defaultItem', f.defaultItem === false ? null : f.defaultItem);
  set('wimboot', f.wimboot);
  set('bcd', f.bcd);
  set('bootSdi', f.bootSdi);
  set('bootWim', f.bootWim);
  set('diskImage', f.diskImage);
  if (f.targetDisk !== undefined || f.targetSerial !== undefined) {
    s.targetDisk = { ...(s.targetDisk as object | undefined), ...(f.targetDisk === undefined ? {} : { path: f.targetDisk }), ...(f.targetSerial === undefined ? {} : { serial: f.targetSerial }) };
  }
  set('verify', f.verify);
  set('onSuccess', f.onSuccess);
  set('onFailure', f.onFailure);
  if (f.answerFile) {
    s.files = f.answerFile.map((text) => {
      const at = text.indexOf('=');
      if (at < 1) throw new CliError(EXIT.USAGE, `--answer-file ${JSON.stringify(text)}: expected "name=path", e.g. preseed.cfg=./preseed.cfg`);
      return { name: text.slice(0, at), template: readText(text.slice(at + 1)) };
    });
  }
  return checkSpec(s, 'spec');
}

export function checkSpec(s: unknown, where: string): ProfileSpec {
  const r = ProfileSpec.safeParse(s);
  if (!r.success) {
    throw new CliError(EXIT.USAGE, `invalid ${where}`, {
      details: r.error.issues.map((i) => `  ${['spec', ...i.path].join('.')}: ${i.message}`),
      hint: 'see `edgeboot profiles create --help` for the fields of each kind',
    });
  }
  return r.data;
}

const ProfileFile = z.strictObject({ name: Name.optional(), description: Description.optional(), spec: z.unknown() });

/** A profile in a YAML or JSON file: `{name?, description?, spec}`. */
export async function readProfileFile(path: string): Promise<{ name?: string; description?: string; spec: ProfileSpec }> {
  // Loaded only here: every other command starts faster without the YAML parser.
  const { parse: parseYaml } = await import('yaml');
  let doc: unknown;
  try {
    doc = parseYaml(readText(path)); // YAML is a superset of JSON: one parser for both
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(EXIT.USAGE, `${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = ProfileFile.safeParse(doc);
  if (!r.success) throw new CliError(EXIT.USAGE, `${path}: not a profile file`, { details: r.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`), hint: 'expected name, description and spec keys' });
  return { name: r.data.name, description: r.data.description, spec: checkSpec(r.data.spec, `spec in ${path}`) };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(EXIT.USAGE, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
