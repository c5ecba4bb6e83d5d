import { Command, Option } from 'commander';
import { archOfSpec, ProfileArch, signedChainOf, type Profile, type ProfileSpec } from '../../../shared/schemas/profile.ts';
import { contextOf } from '../context.ts';
import { addDeleteCommand } from './delete-command.ts';
import { usageError } from '../errors.ts';
import { namesOf, type NameOf } from '../names.ts';
import { emit, formatFields, formatTable, formatTime } from '../output.ts';
import { catalogRefs, mapSpecRefs, readProfileFile, SPEC_FLAG_NAMES, specFromFlags, type SpecFlags } from '../profile-spec.ts';
import { collect, parseInteger } from '../parse.ts';
import { resolveProfile } from '../resolve.ts';

const KINDS = ['linux', 'ipxe', 'local', 'menu', 'wimboot', 'imaging'] as const;

const SPEC_HELP = `
Spec flags by kind (images and menu profiles by name or id):
  linux    --kernel IMG [--initrd IMG]... [--cmdline TEXT] [--answer-file NAME=PATH]...
           [--shim IMG --grub IMG] [--arch x86-64|arm64|any]
  ipxe     --script TEXT | --script-file PATH
  local    (none: boot the local disk)
  menu     [--title TEXT] [--timeout S] --item "Label=PROFILE"... [--default-item N] [--shim IMG --grub IMG]
  wimboot  --wimboot IMG --bcd IMG --boot-sdi IMG --boot-wim IMG [--answer-file NAME=PATH]...
  imaging  --kernel IMG --initrd IMG... --disk-image IMG [--target-disk /dev/X] [--target-serial S]
           [--cmdline TEXT] [--verify stream|readback] [--on-success reboot|poweroff]
           [--on-failure poweroff|shell] [--shim IMG --grub IMG]
--shim and --grub (both or neither): UEFI x64 machines boot the profile through this signed shim and
the distribution's signed network GRUB (e.g. Debian's shimx64.efi.signed and grubnetx64.efi.signed)
instead of iPXE; needed for machines with Secure Boot on. The kernel must then be signed too.
--arch: the machines the profile is for (default: the kernel image's arch; wimboot is x86-64).
Or -f FILE: YAML or JSON with name, description and spec (the API's ProfileSpec), e.g.
  name: ubuntu-24.04
  spec: { kind: linux, kernel: ubuntu-24.04-vmlinuz, initrds: [ubuntu-24.04-initrd], cmdline: "ip=dhcp" }`;

function specOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--kind <kind>', 'what the profile boots').choices(KINDS))
    .option('--kernel <image>', 'linux, imaging: kernel image')
    .option('--initrd <image>', 'linux, imaging: initrd image (repeat, in order)', collect)
    .option('--cmdline <text>', 'linux, imaging: kernel command line')
    .option('--answer-file <name=path>', 'linux, wimboot: an answer file template (preseed, autoinstall, kickstart, unattend…), served at {{filesUrl}}/NAME (repeat)', collect)
    .option('--script <text>', 'ipxe: the script')
    .option('--script-file <path>', 'ipxe: read the script from a file')
    .option('--title <text>', 'menu: title')
    .option('--timeout <seconds>', 'menu: seconds before the default item', parseInteger(0, 3600))
    .option('--item <label=profile>', 'menu: an item (repeat, in order)', collect)
    .option('--default-item <n>', 'menu: index of the default item (from 0); default: local disk', parseInteger(0, 31))
    .option('--wimboot <image>', 'wimboot: the wimboot binary')
    .option('--bcd <image>', 'wimboot: BCD')
    .option('--boot-sdi <image>', 'wimboot: boot.sdi')
    .option('--boot-wim <image>', 'wimboot: boot.wim')
    .option('--disk-image <image>', 'imaging: the disk image to write (disk-raw, disk-gz or disk-zst)')
    .option('--target-disk <path>', 'imaging: the disk to write, e.g. /dev/nvme0n1 (default: the single non-removable disk)')
    .option('--target-serial <serial>', 'imaging: only the disk with this serial number')
    .addOption(new Option('--verify <how>', 'imaging: stream (sha256 of the download) or readback (also read the disk back)').choices(['stream', 'readback']))
    .addOption(new Option('--on-success <action>', 'imaging: after writing').choices(['reboot', 'poweroff']))
    .addOption(new Option('--on-failure <action>', 'imaging: after a failure').choices(['poweroff', 'shell']))
    .option('--shim <image>', 'linux, imaging, menu: UEFI x64 machines boot through this signed shim (with --grub)')
    .option('--grub <image>', 'linux, imaging, menu: the signed network GRUB that the shim loads (with --shim)')
    .addOption(new Option('--arch <arch>', 'the machines it is for (default: from the kernel image)').choices(ProfileArch.options))
    .option('-f, --file <path>', 'read name, description and spec from a YAML or JSON file')
    .addHelpText('after', SPEC_HELP);
}

const hasSpecFlags = (o: SpecFlags): boolean => SPEC_FLAG_NAMES.some((k) => o[k] !== undefined);

function chainSummary(spec: ProfileSpec, imageName: NameOf): string[] {
  const chain = signedChainOf(spec);
  return chain ? [`shim ${imageName(chain.shim)} → grub ${imageName(chain.grub)}`] : [];
}

/** A short summary of what a spec boots, for tables. */
export function specSummary(spec: ProfileSpec, imageName: NameOf, profileName: NameOf): string {
  switch (spec.kind) {
    case 'linux':
      return [`kernel ${imageName(spec.kernel)}`, ...spec.initrds.map((i) => `initrd ${imageName(i)}`), ...chainSummary(spec, imageName)].join(', ');
    case 'menu':
      return [`${spec.items.length} item(s): ${spec.items.map((i) => `${i.label}→${profileName(i.profileId)}`).join(', ')}`, ...chainSummary(spec, imageName)].join(', ');
    case 'wimboot':
      return `boot.wim ${imageName(spec.bootWim)}`;
    case 'imaging':
      return [`disk image ${imageName(spec.diskImage)} with kernel ${imageName(spec.kernel)}`, ...chainSummary(spec, imageName)].join(', ');
    case 'ipxe':
      return `${spec.script.split('\n').length} line script`;
    default:
      return spec.kind === 'local' ? 'local disk' : '';
  }
}

export function profilesCommand(): Command {
  const cmd = new Command('profiles').alias('profile').description('what machines boot: linux, ipxe, local, menu, wimboot, imaging');

  cmd
    .command('list')
    .alias('ls')
    .description('list profiles')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KINDS))
    .action(async (o: { kind?: string }, c: Command) => {
      const ctx = contextOf(c);
      const profiles = await ctx.api().list<Profile>('/v1/profiles', { kind: o.kind });
      const imageName = await namesOf(ctx.api(), '/v1/images');
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      emit(ctx.out, profiles, (rows) =>
        formatTable(
          rows,
          [
            { header: 'name', value: (p) => p.name },
            { header: 'kind', value: (p) => p.spec.kind },
            { header: 'arch', value: (p) => archOfSpec(p.spec) },
            { header: 'boots', value: (p) => specSummary(p.spec, imageName, profileName) },
            { header: 'id', value: (p) => p.id },
          ],
          '(no profiles)',
        ),
      );
    });

  cmd
    .command('show')
    .description('one profile, its spec with image and profile names')
    .argument('<profile>', 'profile name or id')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const p = await resolveProfile(ctx.api(), ref);
      const imageName = await namesOf(ctx.api(), '/v1/images');
      const profileName = await namesOf(ctx.api(), '/v1/profiles');
      const named = mapSpecRefs(p.spec, (r) => imageName(r) ?? r, (r) => profileName(r) ?? r);
      emit(ctx.out, p, () =>
        [
          formatFields([
            ['name', p.name],
            ['id', p.id],
            ['kind', p.spec.kind],
            ['description', p.description],
            ['created', formatTime(p.createdAt)],
            ['updated', formatTime(p.updatedAt)],
          ]),
          'spec:',
          ...Object.entries(named).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? (v.includes('\n') ? `|\n${v.replace(/^/gm, '    ')}` : v) : JSON.stringify(v)}`),
        ].join('\n'),
      );
    });

  specOptions(
    cmd
      .command('create')
      .description('create a profile (admin) from flags or a file')
      .argument('[name]', 'the profile name (or `name:` in the file)')
      .option('-d, --description <text>', 'free text'),
  ).action(async (nameArg: string | undefined, o: SpecFlags & { file?: string; description?: string }, c: Command) => {
    const ctx = contextOf(c);
    if (o.file && hasSpecFlags(o)) throw usageError('give the spec either as flags or in --file, not both');
    const fromFile = o.file ? await readProfileFile(o.file) : undefined;
    const name = nameArg ?? fromFile?.name;
    if (!name) throw usageError('a profile needs a name: edgeboot profiles create NAME …');
    const spec = fromFile?.spec ?? specFromFlags(o);
    const refs = await catalogRefs(ctx.api());
    const p = await ctx.api().post<Profile>('/v1/profiles', {
      name,
      description: o.description ?? fromFile?.description,
      spec: mapSpecRefs(spec, refs.image, refs.profile),
    });
    emit(ctx.out, p, () => `created profile ${p.name} (${p.id})`);
  });

  specOptions(
    cmd
      .command('update')
      .description('change a profile (admin): spec flags change those fields (another --kind starts a new spec); --file replaces the spec')
      .argument('<profile>', 'profile name or id')
      .option('--name <name>', 'new name')
      .option('-d, --description <text>', 'new description'),
  ).action(async (ref: string, o: SpecFlags & { file?: string; name?: string; description?: string }, c: Command) => {
    const ctx = contextOf(c);
    if (o.file && hasSpecFlags(o)) throw usageError('give the spec either as flags or in --file, not both');
    const current = await resolveProfile(ctx.api(), ref);
    const patch: Record<string, unknown> = { name: o.name, description: o.description };
    let spec: ProfileSpec | undefined;
    if (o.file) {
      const f = await readProfileFile(o.file);
      spec = f.spec;
      patch.name ??= f.name === current.name ? undefined : f.name;
      patch.description ??= f.description;
    } else if (hasSpecFlags(o)) {
      spec = specFromFlags(o, current.spec);
    }
    if (spec) {
      const refs = await catalogRefs(ctx.api());
      patch.spec = mapSpecRefs(spec, refs.image, refs.profile);
    }
    if (Object.values(patch).every((v) => v === undefined)) throw usageError('nothing to change', 'give --name, --description, spec flags or --file');
    const p = await ctx.api().patch<Profile>(`/v1/profiles/${current.id}`, patch);
    emit(ctx.out, p, () => `updated profile ${p.name} (${p.id})`);
  });

  addDeleteCommand(cmd, {
    noun: 'profile',
    description: 'delete a profile no assignment, site default or menu uses (admin)',
    argument: 'profile',
    argHelp: 'profile name or id',
    collection: 'profiles',
    resolve: resolveProfile,
    label: (x) => x.name,
  });

  return cmd;
}

