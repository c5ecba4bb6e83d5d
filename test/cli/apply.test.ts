import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, auditEntries, makeCli, startCloud, type Cli } from './support.ts';

const FLEET = `# Two branch offices, managed from git
profiles:
  - name: debian-12
    description: Debian 12 installer
    spec:
      kind: linux
      kernel: deb12-vmlinuz
      initrds: [deb12-initrd]
      cmdline: "auto=true priority=critical"
  - name: lyon-menu
    spec:
      kind: menu
      title: Lyon
      items:
        - { label: Debian 12, profileId: debian-12 }
sites:
  - name: lyon
    description: Lyon office
    defaultProfile: lyon-menu
  - name: paris
machines:
  - mac: 52:54:00:bb:00:01
    site: lyon
    hostname: web-1
    labels: { rack: r1, role: web }
  - mac: 52-54-00-bb-00-02
    site: paris
    arch: uefi-x64
assignments:
  - selector: { mac: 52:54:00:bb:00:01 }
    profile: debian-12
    once: true
  - selector: { site: lyon, labels: { role: web } }
    profile: debian-12
    priority: 10
`;

describe('edgeboot apply (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  let file: string;

  beforeAll(async () => {
    entry = await startCloud('cli-apply');
    cli = await makeCli(entry);
    file = join(cli.home, 'fleet.yaml');
    // Images are not part of the file (bytes are uploaded); it names them.
    for (const [name, kind] of [['deb12-vmlinuz', 'kernel'], ['deb12-initrd', 'initrd']]) {
      expect((await api(entry, 'POST', '/v1/images', { name, kind })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  const write = (text: string) => writeFileSync(file, text);
  const list = async (path: string) => (await api(entry, 'GET', `${path}?limit=500`)).body.items as any[];
  const mutations = async () => (await auditEntries(entry)).length;

  it('prints the plan on --dry-run, field by field, and changes nothing', async () => {
    write(FLEET);
    const before = await mutations();
    const r = await cli.run(['apply', '-f', file, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      [
        'profiles:',
        '  + create    debian-12',
        '      description: Debian 12 installer',
        '      spec: {"kind":"linux","kernel":"deb12-vmlinuz","initrds":["deb12-initrd"],"cmdline":"auto=true priority=critical"}',
        '  + create    lyon-menu',
        '      spec: {"kind":"menu","title":"Lyon","timeoutSeconds":10,"items":[{"label":"Debian 12","profileId":"debian-12"}],"defaultItem":null}',
        'sites:',
        '  + create    lyon',
        '      defaultProfile: lyon-menu',
        '      description: Lyon office',
        '  + create    paris',
        'machines:',
        '  + create    52:54:00:bb:00:01',
        '      hostname: web-1',
        '      labels: {"rack":"r1","role":"web"}',
        '      site: lyon',
        '  + create    52:54:00:bb:00:02',
        '      arch: uefi-x64',
        '      site: paris',
        'assignments:',
        '  + create    mac=52:54:00:bb:00:01',
        '      once: true',
        '      priority: 0',
        '      profile: debian-12',
        '  + create    site=lyon label:role=web',
      ].join('\n'),
    );
    expect(r.stdout).toMatch(/Plan: 8 to create, 0 to update, 0 to delete, 0 unchanged\.\n$/);
    const j = await cli.run(['--json', 'apply', '-f', file, '--dry-run']);
    expect(j.json()).toMatchObject({ dryRun: true, summary: { create: 8, update: 0, delete: 0, unchanged: 0 } });
    // Nothing was created, and no mutating call reached the API.
    expect(await list('/v1/sites')).toEqual([]);
    expect(await list('/v1/profiles')).toEqual([]);
    expect(await mutations()).toBe(before);
  });

  it('creates everything, with references resolved to ids, in dependency order', async () => {
    const r = await cli.run(['apply', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^created profile debian-12 \(prf_\w+\)$/m);
    expect(r.stdout).toContain('Applied: 8 created, 0 updated, 0 deleted, 0 unchanged.');
    const images = Object.fromEntries((await list('/v1/images')).map((i) => [i.name, i.id]));
    const profiles = Object.fromEntries((await list('/v1/profiles')).map((p) => [p.name, p]));
    const sites = Object.fromEntries((await list('/v1/sites')).map((s) => [s.name, s]));
    expect(profiles['debian-12'].spec).toEqual({ kind: 'linux', kernel: images['deb12-vmlinuz'], initrds: [images['deb12-initrd']], cmdline: 'auto=true priority=critical' });
    expect(profiles['lyon-menu'].spec.items).toEqual([{ label: 'Debian 12', profileId: profiles['debian-12'].id }]);
    expect(sites.lyon).toMatchObject({ description: 'Lyon office', defaultProfileId: profiles['lyon-menu'].id });
    const machines = await list('/v1/machines');
    expect(machines.map((m) => [m.mac, m.siteId, m.hostname, m.labels, m.arch]).sort()).toEqual([
      ['52:54:00:bb:00:01', sites.lyon.id, 'web-1', { rack: 'r1', role: 'web' }, null],
      ['52:54:00:bb:00:02', sites.paris.id, null, {}, 'uefi-x64'],
    ]);
    const assignments = await list('/v1/assignments');
    expect(assignments.map((a) => [a.selector, a.profileId, a.once, a.priority])).toEqual([
      [{ mac: '52:54:00:bb:00:01' }, profiles['debian-12'].id, true, 0],
      [{ siteId: sites.lyon.id, labels: { role: 'web' } }, profiles['debian-12'].id, false, 10],
    ]);
  });

  it('changes nothing when applied again', async () => {
    const before = await mutations();
    const r = await cli.run(['--json', 'apply', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().summary).toEqual({ create: 0, update: 0, delete: 0, unchanged: 8 });
    expect(await mutations()).toBe(before);
    const text = await cli.run(['apply', '-f', file, '--dry-run', '-v']);
    expect(text.stdout).toContain('  = unchanged lyon-menu');
    expect(text.stdout).toContain('No changes: 8 object(s) already as the file says.');
  });

  it('shows field-level changes of an edited file, applies only those, and leaves unmanaged fields alone', async () => {
    // Someone set web-1's serial by hand: the file does not mention serials, so apply keeps it.
    const web1 = (await list('/v1/machines')).find((m) => m.mac === '52:54:00:bb:00:01');
    await api(entry, 'PATCH', `/v1/machines/${web1.id}`, { serial: 'SN-123' });
    write(
      FLEET.replace('cmdline: "auto=true priority=critical"', 'cmdline: "auto=true priority=critical quiet"')
        .replace('labels: { rack: r1, role: web }', 'labels: { rack: r2, role: web, env: prod }')
        .replace('    profile: debian-12\n    priority: 10', '    profile: lyon-menu\n    priority: 10'),
    );
    const dry = await cli.run(['apply', '-f', file, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('  ~ update    debian-12\n      spec.cmdline: auto=true priority=critical → auto=true priority=critical quiet\n');
    expect(dry.stdout).toContain('  ~ update    52:54:00:bb:00:01\n      labels.env: (none) → prod\n      labels.rack: r1 → r2\n');
    expect(dry.stdout).toContain('  ~ update    site=lyon label:role=web\n      profile: debian-12 → lyon-menu\n');
    expect(dry.stdout).toContain('Plan: 0 to create, 3 to update, 0 to delete, 5 unchanged.');
    const r = await cli.run(['--json', 'apply', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().summary).toEqual({ create: 0, update: 3, delete: 0, unchanged: 5 });
    const after = (await list('/v1/machines')).find((m) => m.mac === '52:54:00:bb:00:01');
    expect(after).toMatchObject({ labels: { rack: 'r2', role: 'web', env: 'prod' }, serial: 'SN-123', hostname: 'web-1' });
    expect((await cli.run(['--json', 'apply', '-f', file])).json().summary.update).toBe(0);
  });

  it('deletes what a section no longer lists only with --prune', async () => {
    // An assignment made by hand, and a machine dropped from the file.
    await cli.run(['assign', '52:54:00:bb:00:02', 'lyon-menu']);
    write(FLEET.replace(/ {2}- mac: 52-54-00-bb-00-02\n {4}site: paris\n {4}arch: uefi-x64\n/, ''));
    const plain = await cli.run(['--json', 'apply', '-f', file, '--dry-run']);
    expect(plain.json().summary.delete).toBe(0);
    const dry = await cli.run(['apply', '-f', file, '--dry-run', '--prune']);
    expect(dry.stdout).toContain('  - delete    52:54:00:bb:00:02');
    expect(dry.stdout).toContain('  - delete    mac=52:54:00:bb:00:02');
    const r = await cli.run(['--json', 'apply', '-f', file, '--prune']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().summary).toMatchObject({ delete: 2 });
    expect((await list('/v1/machines')).map((m) => m.mac)).toEqual(['52:54:00:bb:00:01']);
    expect((await list('/v1/assignments')).some((a) => a.selector.mac === '52:54:00:bb:00:02')).toBe(false);
  });

  it('reports file problems with their line and column, and changes nothing', async () => {
    const before = await mutations();
    write('sites:\n  - name: lyon\n    colour: blue\nmachines:\n  - mac: 52:54:00:zz:00:01\n    labels: { Rack: r1 }\n');
    const bad = await cli.run(['apply', '-f', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}: 3 problem(s)`);
    expect(bad.stderr).toContain(`  ${file}:3:5: sites[0]: Unrecognized key: "colour"`);
    expect(bad.stderr).toContain(`  ${file}:5:10: machines[0].mac: not a MAC address`);
    expect(bad.stderr).toContain(`  ${file}:6:15: machines[0].labels.Rack: key "Rack": lower-case letters, digits and . _ / - inside`);

    write('profiles:\n  - name: p\n    spec: { kind: linux, kernel: no-such-image }\nsites:\n  - name: s\n    defaultProfile: nope\n');
    const refs = await cli.run(['apply', '-f', file, '--dry-run']);
    expect(refs.code).toBe(2);
    expect(refs.stderr).toContain(`${file}: 2 reference(s) cannot be resolved; nothing was changed`);
    expect(refs.stderr).toContain(`  ${file}:3:34: profiles[0].spec.kernel: no image named "no-such-image" on the server`);
    expect(refs.stderr).toContain(`  ${file}:6:21: sites[0].defaultProfile: no profile named "nope" in the file or on the server`);

    write('sites:\n  - name: [unclosed\n');
    const yaml = await cli.run(['apply', '-f', file]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(new RegExp(`is not valid YAML\\n  ${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: `));
    expect((await cli.run(['apply', '-f', join(cli.home, 'missing.yaml')])).code).toBe(2);
    expect(await mutations()).toBe(before);
  });
});
