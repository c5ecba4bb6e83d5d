import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, succeeding, type Cli } from './support.ts';

/**
 * `machines explain` before a machine's first boot and `assign` replacing what a machine had, run as
 * the CLI process against the Node entry. Each test makes its own site, profiles and MACs.
 */

const mac = () => `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
const name = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;

describe('edgeboot machines explain and assign (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  beforeAll(async () => {
    entry = await startCloud('cli-explain-assign');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });
  const { ok, okJson } = succeeding(() => cli);

  /** A linux profile for any machine (its images have no bytes, so no architecture). */
  async function linuxProfile(): Promise<string> {
    const kernel = (await api(entry, 'POST', '/v1/images', { name: name('k'), kind: 'kernel' })).body.id;
    const initrd = (await api(entry, 'POST', '/v1/images', { name: name('i'), kind: 'initrd' })).body.id;
    const p = await api(entry, 'POST', '/v1/profiles', { name: name('linux'), spec: { kind: 'linux', kernel, initrds: [initrd], cmdline: 'quiet' } });
    expect(p.status).toBe(201);
    return p.body.name;
  }

  it('explains a MAC that was assigned but never booted, for the architecture given', async () => {
    const profile = await linuxProfile();
    const m = mac();
    await ok('assign', m, profile);
    const out = (await ok('machines', 'explain', m, '--arch', 'x86_64')).stdout;
    expect(out).toMatch(new RegExp(`^machine:\\s+${m} \\(not registered\\)$`, 'm'));
    expect(out).toMatch(/^action:\s+boot$/m);
    expect(out).toMatch(new RegExp(`^profile:\\s+${profile} \\(prf_\\w{26}\\)$`, 'm'));
    expect(out).toMatch(/^arch:\s+uefi-x64$/m);
    expect(out).toMatch(new RegExp(`^reason:\\s+not registered yet; at its first boot at any site: assigned to this MAC: ${profile}$`, 'm'));
    // Without --arch it says what to give.
    const bare = await okJson('machines', 'explain', m);
    expect(bare).toMatchObject({ action: 'ignore', arch: null });
    expect((await ok('machines', 'explain', m)).stdout).toMatch(
      /^reason:\s+not registered yet; at its first boot at any site: the architecture is not known yet \(the firmware reports it when it boots\): give --arch, one of bios, uefi-ia32, uefi-x64, uefi-arm32, uefi-arm64 \(x86_64, amd64 and x64 mean uefi-x64; arm64 and aarch64 mean uefi-arm64\)$/m,
    );
  });

  it("explains a MAC unknown to the fleet with --site as that site's default, and says to give --site without it", async () => {
    const profile = await linuxProfile();
    const site = name('site');
    await ok('sites', 'create', site, '--default-profile', profile);
    const m = mac();
    const e = await okJson('machines', 'explain', m, '--site', site, '--arch', 'bios');
    expect(e).toMatchObject({ action: 'boot', arch: 'bios', profile: { name: profile }, assignmentId: null });
    expect(e.reason).toBe(`not registered yet; at its first boot at site ${site}: nothing assigned, site default: ${profile}`);

    const unknown = await cli.run(['machines', 'explain', m, '--arch', 'bios']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(
      new RegExp(`^error: no machine has MAC ${m} and no assignment names it: give a site to see what that site's default would boot \\(HTTP 404 not_found\\)\nrequest id: req_\\w+\nhint: give --site SITE to see what that site's default would boot\n$`),
    );
  });

  it('explains a registered machine without an architecture for --arch, and refuses a wrong --arch naming the accepted values', async () => {
    const profile = await linuxProfile();
    const site = name('site');
    await ok('sites', 'create', site);
    const m = mac();
    await ok('machines', 'create', m, '--site', site);
    await ok('assign', m, profile);
    expect(await okJson('machines', 'explain', m, '--arch', 'arm64')).toMatchObject({ action: 'boot', arch: 'uefi-arm64', profile: { name: profile } });
    expect(await okJson('machines', 'explain', m, '--arch', 'bios')).toMatchObject({ action: 'boot', arch: 'bios' });

    const wrong = await cli.run(['machines', 'explain', m, '--arch', 'z80']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(
      "option '--arch <arch>' argument 'z80' is invalid. one of bios, uefi-ia32, uefi-x64, uefi-arm32, uefi-arm64 (x86_64, amd64 and x64 mean uefi-x64; arm64 and aarch64 mean uefi-arm64)",
    );
  });

  it("replaces the machine's assignment and says what it replaced; --add keeps it", async () => {
    const [p1, p2, p3] = [await linuxProfile(), await linuxProfile(), await linuxProfile()];
    const m = mac();
    const first = await ok('assign', m, p1, '--once');
    expect(first.stdout).toMatch(new RegExp(`^assigned ${p1} to ${m} \\(once\\): asg_\\w{26}\\n$`));
    const firstId = /(asg_\w{26})/.exec(first.stdout)![1]!;

    const second = await ok('assign', m, p2);
    const secondId = /^assigned .*: (asg_\w{26})$/m.exec(second.stdout)![1]!;
    expect(second.stdout).toBe(`assigned ${p2} to ${m}: ${secondId}\nreplaced ${p1} (${firstId}, once)\n`);
    expect((await api(entry, 'GET', `/v1/assignments/${firstId}`)).status).toBe(404);

    const added = await okJson('assign', m, p3, '--add', '--priority', '5');
    expect(added.replaced).toBeUndefined();
    const all = (await api(entry, 'GET', '/v1/assignments?limit=500')).body.items.filter((a: { selector: { mac?: string } }) => a.selector.mac === m);
    expect(all.map((a: { id: string }) => a.id).sort()).toEqual([secondId, added.id].sort());

    // Replacing two at once names both.
    const third = await okJson('assign', m, p1);
    expect(third.replaced.map((a: { id: string }) => a.id).sort()).toEqual([secondId, added.id].sort());
    const text = (await ok('assign', m, p2)).stdout;
    expect(text).toMatch(new RegExp(`^replaced ${p1} \\(${third.id}\\)$`, 'm'));
  });
});
