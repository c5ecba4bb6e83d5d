import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRelease } from '../../shared/release/statement.ts';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, succeeding, type Cli } from './support.ts';

const MAC = '52:54:00:aa:00:01';
const MAC2 = '52:54:00:aa:00:02';

/**
 * Every command of the CLI, run as a process against the Node entry, checked through its output
 * (tables for people, --json for scripts, exit codes) and through the API itself.
 */
describe('edgeboot commands (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    entry = await startCloud('cli-commands');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  const { ok, okJson } = succeeding(() => cli);

  describe('sites', () => {
    it('creates, lists (table and JSON), shows by name or id, updates and deletes', async () => {
      const created = await ok('sites', 'create', 'lyon', '-d', 'Lyon office');
      expect(created.stdout).toMatch(/^created site lyon \(site_\w{26}\)$/m);
      ids.lyon = /\((site_\w+)\)/.exec(created.stdout)![1]!;
      ids.paris = (await okJson('sites', 'create', 'paris')).id;

      const table = (await ok('sites', 'list')).stdout.split('\n');
      expect(table[0]).toMatch(/^NAME\s+ID\s+DEFAULT PROFILE\s+DESCRIPTION$/);
      expect(table.find((l) => l.startsWith('lyon '))).toMatch(new RegExp(`^lyon\\s+${ids.lyon}\\s+\\(local disk\\)\\s+Lyon office$`));
      // Columns line up: every row starts its ID column where the header does.
      const col = table[0]!.indexOf('ID');
      for (const l of table.slice(1).filter(Boolean)) expect(l.slice(col, col + 5)).toBe('site_');

      const listed = await okJson<{ name: string }[]>('sites', 'list');
      expect(listed.map((s) => s.name).sort()).toEqual(['lyon', 'paris']);
      expect((await okJson('sites', 'show', 'lyon')).id).toBe(ids.lyon);
      expect((await ok('sites', 'show', ids.lyon!)).stdout).toMatch(/^description:\s+Lyon office$/m);

      await ok('sites', 'update', 'paris', '--name', 'paris-2', '-d', 'moved');
      expect((await api(entry, 'GET', `/v1/sites/${ids.paris}`)).body).toMatchObject({ name: 'paris-2', description: 'moved' });
      expect((await ok('sites', 'delete', 'paris-2')).stdout).toContain(`deleted site paris-2 (${ids.paris})`);
      expect((await api(entry, 'GET', `/v1/sites/${ids.paris}`)).status).toBe(404);
    });

    it('says what went wrong, with the request id, and exits with the documented codes', async () => {
      const dup = await cli.run(['sites', 'create', 'lyon']);
      expect(dup.code).toBe(5);
      expect(dup.stderr).toMatch(/^error: a site named "lyon" exists \(HTTP 409 conflict\)\nrequest id: req_[0-9a-f]{32}\n$/);
      const missing = await cli.run(['sites', 'show', 'nowhere']);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('no site named or with id "nowhere"');
      expect(missing.stderr).toContain('hint: `edgeboot sites list` shows the sites this token can see');
      const invalid = await cli.run(['sites', 'create', '-bad name']);
      expect(invalid.code).toBe(2); // commander: "-bad name" looks like an option
      const rejected = await cli.run(['sites', 'create', '.starts-with-dot']);
      expect(rejected.code).toBe(5);
      expect(rejected.stderr).toContain('HTTP 400 validation_failed');
      expect(rejected.stderr).toMatch(/^ {2}name: letters, digits/m);
      // In --json mode the error is JSON too (on stderr; stdout stays empty for scripts).
      const j = await cli.run(['--json', 'sites', 'create', 'lyon']);
      expect(j.code).toBe(5);
      expect(j.stdout).toBe('');
      expect(JSON.parse(j.stderr).error).toMatchObject({ status: 409, code: 'conflict', exitCode: 5, requestId: expect.stringMatching(/^req_/) });
    });
  });

  describe('images and profiles', () => {
    it('creates image records, lists and shows them, and signs a URL for a site', async () => {
      ids.kernel = (await okJson('images', 'create', 'deb-kernel', '--kind', 'kernel')).id;
      ids.initrd = (await okJson('images', 'create', 'deb-initrd', '--kind', 'initrd')).id;
      ids.spare = (await okJson('images', 'create', 'spare')).id;
      const table = (await ok('images', 'list')).stdout;
      expect(table).toMatch(/^deb-kernel\s+kernel\s+any\s+pending\s+-\s+-\s+img_/m);
      expect((await okJson('images', 'show', 'deb-initrd')).kind).toBe('initrd');
      const signed = await okJson('images', 'signed-url', 'deb-kernel', '--site', 'lyon', '--ttl', '10m');
      expect(signed.url).toMatch(new RegExp(`^${entry.baseUrl}/v1/files/${ids.kernel}\\?sig=`));
      // The URL needs no token; the image has no bytes yet, which the server says.
      expect((await fetch(signed.url)).status).toBe(409);
      await ok('images', 'delete', 'spare');
      expect((await api(entry, 'GET', `/v1/images/${ids.spare}`)).status).toBe(404);
    });

    it('creates profiles from flags and from a YAML file, naming images and profiles by name', async () => {
      const linux = await okJson('profiles', 'create', 'debian', '--kind', 'linux', '--kernel', 'deb-kernel', '--initrd', 'deb-initrd', '--cmdline', 'console=ttyS0');
      ids.debian = linux.id;
      expect(linux.spec).toEqual({ kind: 'linux', kernel: ids.kernel, initrds: [ids.initrd], cmdline: 'console=ttyS0' });
      const file = join(cli.home, 'menu.yaml');
      writeFileSync(file, 'name: lyon-menu\ndescription: what Lyon sees\nspec:\n  kind: menu\n  title: Lyon\n  items:\n    - { label: Debian, profileId: debian }\n  defaultItem: 0\n');
      const menu = await okJson('profiles', 'create', '-f', file);
      ids.menu = menu.id;
      expect(menu).toMatchObject({ name: 'lyon-menu', description: 'what Lyon sees', spec: { kind: 'menu', items: [{ label: 'Debian', profileId: ids.debian }], defaultItem: 0 } });
      ids.local = (await okJson('profiles', 'create', 'disk', '--kind', 'local')).id;

      // Imaging: the imager's kernel and initrd and the disk image, by name; an answer file from disk.
      ids.raw = (await okJson('images', 'create', 'golden.img', '--kind', 'disk-raw')).id;
      const imaging = await okJson('profiles', 'create', 'golden', '--kind', 'imaging', '--kernel', 'deb-kernel', '--initrd', 'deb-initrd', '--disk-image', 'golden.img', '--target-disk', '/dev/vda', '--verify', 'stream');
      expect(imaging.spec).toMatchObject({ kind: 'imaging', kernel: ids.kernel, initrds: [ids.initrd], diskImage: ids.raw, targetDisk: { path: '/dev/vda' }, verify: 'stream' });
      writeFileSync(join(cli.home, 'preseed.cfg'), 'd-i netcfg/hostname string {{hostname}}\n');
      const seeded = await okJson('profiles', 'create', 'debian-auto', '--kind', 'linux', '--kernel', 'deb-kernel', '--answer-file', `preseed.cfg=${join(cli.home, 'preseed.cfg')}`);
      expect(seeded.spec.files).toEqual([{ name: 'preseed.cfg', template: 'd-i netcfg/hostname string {{hostname}}\n' }]);
      await ok('profiles', 'delete', 'golden');
      await ok('profiles', 'delete', 'debian-auto');
      await ok('images', 'delete', 'golden.img');

      const table = (await ok('profiles', 'list')).stdout;
      expect(table).toMatch(/^debian\s+linux\s+any\s+kernel deb-kernel, initrd deb-initrd\s+prf_/m);
      expect(table).toMatch(/^lyon-menu\s+menu\s+any\s+1 item\(s\): Debian→debian\s+prf_/m);
      expect((await okJson('profiles', 'list', '--kind', 'menu')).map((p: { name: string }) => p.name)).toEqual(['lyon-menu']);
      const shown = (await ok('profiles', 'show', 'debian')).stdout;
      expect(shown).toContain('  kernel: deb-kernel');
      expect(shown).toContain('  initrds: ["deb-initrd"]');
    });

    it('updates a spec field by flag (keeping the rest), renames, and refuses bad specs before sending', async () => {
      const updated = await okJson('profiles', 'update', 'debian', '--cmdline', 'console=ttyS0 quiet', '--description', 'Debian 12');
      expect(updated.spec).toEqual({ kind: 'linux', kernel: ids.kernel, initrds: [ids.initrd], cmdline: 'console=ttyS0 quiet' });
      expect(updated.description).toBe('Debian 12');
      await ok('profiles', 'update', 'disk', '--name', 'local-disk');
      expect((await api(entry, 'GET', `/v1/profiles/${ids.local}`)).body.name).toBe('local-disk');

      const noKernel = await cli.run(['profiles', 'create', 'broken', '--kind', 'linux']);
      expect(noKernel.code).toBe(2);
      expect(noKernel.stderr).toContain('spec.kernel');
      const unknownImage = await cli.run(['profiles', 'create', 'broken', '--kind', 'linux', '--kernel', 'no-such-image']);
      expect(unknownImage.code).toBe(3);
      expect(unknownImage.stderr).toContain('spec.kernel: no image named "no-such-image"');
      const nothing = await cli.run(['profiles', 'update', 'debian']);
      expect(nothing.code).toBe(2);
      expect((await api(entry, 'GET', '/v1/profiles?limit=500')).body.items.some((p: { name: string }) => p.name === 'broken')).toBe(false);
    });

    it('sets and clears a site default profile', async () => {
      await ok('sites', 'update', 'lyon', '--default-profile', 'lyon-menu');
      expect((await ok('sites', 'show', 'lyon')).stdout).toMatch(new RegExp(`^default profile:\\s+lyon-menu \\(${ids.menu}\\)$`, 'm'));
      // In use: the API refuses to delete it, and says by what.
      const inUse = await cli.run(['profiles', 'delete', 'lyon-menu']);
      expect(inUse.code).toBe(5);
      expect(inUse.stderr).toContain('the profile is still used by 1 site default(s)');
      await ok('sites', 'update', 'lyon', '--no-default-profile');
      expect((await api(entry, 'GET', `/v1/sites/${ids.lyon}`)).body.defaultProfileId).toBeNull();
    });
  });

  describe('machines', () => {
    it('registers machines and lists them with filters', async () => {
      const m = await okJson('machines', 'create', '5254.00aa.0001', '--site', 'lyon', '--hostname', 'web-1', '-l', 'rack=r1', '-l', 'role=web', '--arch', 'bios');
      expect(m).toMatchObject({ mac: MAC, siteId: ids.lyon, hostname: 'web-1', labels: { rack: 'r1', role: 'web' }, arch: 'bios', state: 'discovered' });
      ids.m1 = m.id;
      ids.m2 = (await okJson('machines', 'register', MAC2, '--site', 'lyon', '--hostname', 'db-1', '-l', 'rack=r2', '--state', 'ready')).id;

      const macs = async (...filters: string[]) => (await okJson<{ mac: string }[]>('machines', 'list', ...filters)).map((x) => x.mac).sort();
      expect(await macs()).toEqual([MAC, MAC2]);
      expect(await macs('--label', 'rack=r1')).toEqual([MAC]);
      expect(await macs('--label', 'rack=r2', '--label', 'role=web')).toEqual([]);
      expect(await macs('--state', 'ready')).toEqual([MAC2]);
      expect(await macs('--site', 'lyon', '--arch', 'bios')).toEqual([MAC]);
      expect(await macs('--search', 'DB')).toEqual([MAC2]);
      expect(await macs('--limit', '1')).toHaveLength(1);
      const table = (await ok('machines', 'list')).stdout;
      expect(table.split('\n')[0]).toMatch(/^MAC\s+HOSTNAME\s+SITE\s+STATE\s+ARCH\s+LABELS\s+LAST SEEN\s+ID$/);
      expect(table).toMatch(new RegExp(`^${MAC}\\s+web-1\\s+lyon\\s+discovered\\s+bios\\s+rack=r1,role=web\\s+-\\s+${ids.m1}$`, 'm'));

      const badState = await cli.run(['machines', 'list', '--state', 'sleeping']);
      expect(badState.code).toBe(2);
      expect(badState.stderr).toContain("option '--state <state>' argument 'sleeping' is invalid");
      const badMac = await cli.run(['machines', 'create', '52:54:00']);
      expect(badMac.code).toBe(2);
      expect(badMac.stderr).toContain('not a MAC address');
    });

    it('shows a machine by id, MAC in any spelling, or hostname', async () => {
      for (const ref of [ids.m1!, MAC, '52-54-00-AA-00-01', '525400aa0001', 'web-1', 'WEB-1']) {
        expect((await okJson('machines', 'show', ref)).id).toBe(ids.m1);
      }
      expect((await ok('machines', 'show', 'web-1')).stdout).toMatch(/^site:\s+lyon \(site_\w+\)$/m);
      expect((await cli.run(['machines', 'show', 'no-such-host'])).code).toBe(3);
      expect((await cli.run(['machines', 'show', '52:54:00:ff:ff:ff'])).code).toBe(3);
    });

    it('updates labels by merging, removes labels, clears the hostname', async () => {
      expect((await okJson('machines', 'update', 'web-1', '-l', 'env=prod', '--unlabel', 'role')).labels).toEqual({ rack: 'r1', env: 'prod' });
      const cleared = await okJson('machines', 'update', MAC2, '--no-hostname', '--clear-labels', '-l', 'rack=r9');
      expect(cleared).toMatchObject({ hostname: null, labels: { rack: 'r9' } });
      expect((await cli.run(['machines', 'update', 'web-1'])).code).toBe(2);
      const badLabel = await cli.run(['machines', 'update', 'web-1', '-l', 'Rack=1']);
      expect(badLabel.code).toBe(2);
      expect(badLabel.stderr).toContain('label key "Rack"');
    });

    it('assigns a profile (once), explains the decision, shows the assignment, and reprovisions', async () => {
      const before = await okJson('machines', 'explain', 'web-1');
      expect(before.action).not.toBe('boot');
      const a = await okJson('assign', '52-54-00-aa-00-01', 'debian', '--once');
      expect(a).toMatchObject({ profileId: ids.debian, selector: { mac: MAC }, once: true, priority: 0 });
      ids.assignment = a.id;
      const e = await okJson('machines', 'explain', MAC);
      expect(e).toMatchObject({ action: 'boot', profile: { id: ids.debian, name: 'debian' }, assignmentId: a.id, once: true, arch: 'bios' });
      expect((await ok('machines', 'explain', 'web-1')).stdout).toMatch(/^once:\s+yes: after success it boots its local disk$/m);
      expect((await okJson('machines', 'explain', 'web-1', '--arch', 'uefi-x64')).arch).toBe('uefi-x64');
      const match = await ok('machines', 'assignment', 'web-1');
      expect(match.stdout).toMatch(new RegExp(`^assignment:\\s+${a.id}$`, 'm'));
      expect(match.stdout).toMatch(/^profile:\s+debian$/m);
      const re = await okJson('machines', 'reprovision', 'web-1');
      expect(re.state).toBe('ready');
    });

    it('shows the boot timeline a relay and the cloud recorded', async () => {
      expect((await ok('machines', 'timeline', MAC2)).stdout.trim()).toBe(`no boots recorded for ${MAC2}`);
      // A relay of Lyon asks for web-1's boot script, as it does when the machine netboots.
      const code = await okJson('relays', 'enroll-code', 'lyon');
      const enrolled = await api(entry, 'POST', '/v1/relays/enroll', { code: code.code, name: 'lyon-relay-1', version: '1.2.3', address: '10.0.0.2' }, null);
      expect(enrolled.status).toBe(201);
      const boot = await fetch(`${entry.baseUrl}/v1/relay/boot?mac=${MAC}&arch=0&fileBase=http://10.0.0.2:8080`, { headers: { authorization: `Bearer ${enrolled.body.token}` } });
      expect(boot.status).toBe(200);
      const t = await okJson('machines', 'timeline', 'web-1', '--boots', '5');
      expect(t.boots).toHaveLength(1);
      expect(t.boots[0]).toMatchObject({ profileId: ids.debian, outcome: 'in-progress' });
      const text = (await ok('machines', 'timeline', 'web-1')).stdout;
      expect(text).toMatch(/^boot boot_\w+\s+in-progress\s+.*profile debian$/m);
      expect(text).toMatch(/^\s+\+0 ms\s+script-rendered\s+cloud/m);
      ids.relay = enrolled.body.relay.id;
      ids.relayToken = enrolled.body.token;
    });

    it('deletes a machine and its own assignments', async () => {
      await ok('machines', 'delete', MAC2);
      expect((await api(entry, 'GET', `/v1/machines/${ids.m2}`)).status).toBe(404);
    });
  });

  describe('relays', () => {
    it('publishes a signed relay release and pins a site to it; the relay list shows the desired version', async () => {
      const exe = Buffer.from('#!/bin/sh\necho "0.2.0 linux-x64"\n');
      const file = join(cli.home, 'edgeboot-relay-0.2.0-linux-x64');
      writeFileSync(file, exe);
      const key = { ...(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as JsonWebKey), kid: 'cli-test' };
      const signed = await signRelease({ version: '0.2.0', arch: 'x64', kind: 'executable', bytes: exe.length, sha256: createHash('sha256').update(exe).digest('hex') }, key);
      writeFileSync(`${file}.sig.json`, JSON.stringify(signed));
      expect((await ok('relays', 'publish', file)).stdout.trim()).toMatch(/^published relay 0\.2\.0 x64 executable \(\d+ bytes stored\)$/);
      // Another version is not published: the cloud refuses to pin it.
      expect((await cli.run(['relays', 'desired', '9.9.9', '--site', 'lyon'])).stderr).toContain('no executable of relay 9.9.9 is published');
      expect((await ok('relays', 'desired', '0.2.0', '--site', 'lyon')).stdout).toBe('fleet: (none)\npinned: lyon → 0.2.0\n');
      const [relay] = await okJson('relays', 'list', '--site', 'lyon');
      expect(relay).toMatchObject({ desiredVersion: '0.2.0', update: null });
      expect((await ok('relays', 'desired', 'none', '--site', 'lyon')).stdout).toBe('fleet: (none)\n');
    });

    it('lists relays with their health, shows one, revokes it', async () => {
      // Enrolled, never ran: not "online" until its first heartbeat.
      expect((await ok('relays', 'list', '--site', 'lyon')).stdout).toMatch(new RegExp(`^lyon-relay-1\\s+${ids.relay}\\s+lyon\\s+never seen\\s+-\\s+1\\.2\\.3\\s+-\\s+-\\s+10\\.0\\.0\\.2$`, 'm'));
      const hb = await fetch(`${entry.baseUrl}/v1/relay/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${ids.relayToken}`, 'content-type': 'application/json' }, body: '{}' });
      expect(hb.status).toBe(200);
      const table = (await ok('relays', 'list', '--site', 'lyon')).stdout;
      expect(table).toMatch(new RegExp(`^lyon-relay-1\\s+${ids.relay}\\s+lyon\\s+online\\s+\\d+s ago\\s+1\\.2\\.3\\s+-\\s+-\\s+10\\.0\\.0\\.2$`, 'm'));
      expect((await okJson('relays', 'show', 'lyon-relay-1')).id).toBe(ids.relay);
      const code = (await ok('relays', 'enroll-code', 'lyon', '--expires', '15m')).stdout;
      expect(code).toMatch(/^enrollment code for site lyon: [A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/m);
      expect(code).toContain(`edgeboot-relay enroll --cloud ${entry.baseUrl} --code`);
      expect(code).toMatch(new RegExp(`^  curl -fsSL ${entry.baseUrl.replace(/\./g, '\\.')}/v1/relays/install\\.sh \\| sudo sh -s -- --code [A-Z0-9-]{19}$`, 'm'));
      expect((await cli.run(['relays', 'enroll-code', 'lyon', '--expires', '2d'])).code).toBe(5); // over 24 h: the API says no
      await ok('relays', 'revoke', ids.relay!);
      expect((await okJson('relays', 'list'))).toEqual([]);
      expect((await okJson('relays', 'list', '--all'))[0]).toMatchObject({ id: ids.relay, revokedAt: expect.any(String) });
      expect((await ok('relays', 'list', '--all')).stdout).toMatch(/\srevoked\s/);
    });
  });

  describe('assignments', () => {
    it('lists, shows, creates with any selector, updates and deletes', async () => {
      const rule = await okJson('assignments', 'create', '--profile', 'local-disk', '--site', 'lyon', '-l', 'rack=r1', '--priority', '7');
      expect(rule).toMatchObject({ profileId: ids.local, selector: { siteId: ids.lyon, labels: { rack: 'r1' } }, once: false, priority: 7 });
      const table = (await ok('assignments', 'list')).stdout;
      expect(table).toMatch(new RegExp(`^${rule.id}\\s+site lyon · labels rack=r1\\s+local-disk\\s+no\\s+7$`, 'm'));
      expect(table).toMatch(new RegExp(`^${ids.assignment}\\s+mac ${MAC}\\s+debian\\s+yes\\s+0$`, 'm'));
      expect((await okJson<{ id: string }[]>('assignments', 'list', '--profile', 'debian')).map((a) => a.id)).toEqual([ids.assignment]);
      expect((await okJson<{ id: string }[]>('assignments', 'list', '--machine', 'web-1')).map((a) => a.id)).toEqual([ids.assignment]);
      expect((await ok('assignments', 'show', rule.id)).stdout).toMatch(/^profile:\s+local-disk \(prf_\w+\)$/m);

      const updated = await okJson('assignments', 'update', ids.assignment!, '--no-once', '--priority', '5', '--profile', 'lyon-menu');
      expect(updated).toMatchObject({ once: false, priority: 5, profileId: ids.menu });
      expect((await cli.run(['assignments', 'create', '--profile', 'debian'])).code).toBe(2);
      expect((await cli.run(['assignments', 'update', rule.id])).code).toBe(2);
      await ok('assignments', 'delete', rule.id);
      expect((await api(entry, 'GET', `/v1/assignments/${rule.id}`)).status).toBe(404);
      expect((await cli.run(['assignments', 'delete', rule.id])).code).toBe(3);
    });
  });

  describe('tokens, audit, signing keys', () => {
    it('creates a viewer token that can read but not write, lists, shows and revokes it', async () => {
      const created = await ok('tokens', 'create', 'lyon viewer', '--role', 'viewer', '--site', 'lyon', '--expires', '1d');
      const secret = /^token: (\S+)$/m.exec(created.stdout)![1]!;
      const id = /\((tok_\w+)\)/.exec(created.stdout)![1]!;
      expect(created.stdout).toContain('it is shown only this once');
      const asViewer = { EDGEBOOT_TOKEN: secret };
      expect((await cli.run(['--json', 'sites', 'list'], { env: asViewer })).json().map((s: { name: string }) => s.name)).toEqual(['lyon']);
      const refused = await cli.run(['sites', 'create', 'berlin'], { env: asViewer });
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('HTTP 403 forbidden');
      expect(refused.stderr).toContain("hint: this token's role or sites do not allow it");

      const table = (await ok('tokens', 'list')).stdout;
      // A day from now, read a moment later: 23h59m, or 1d00h when the listing falls in the same minute's rounding.
      expect(table).toMatch(new RegExp(`^lyon viewer\\s+${id}\\s+viewer\\s+lyon\\s+\\S+\\s+active\\s+in (23h59m|1d00h)`, 'm'));
      expect((await okJson('tokens', 'show', id)).siteIds).toEqual([ids.lyon]);
      await ok('tokens', 'revoke', id);
      const revoked = await cli.run(['sites', 'list'], { env: asViewer });
      expect(revoked.code).toBe(4);
      expect(revoked.stderr).toContain('HTTP 401');
      expect(revoked.stderr).toContain('edgeboot login');
      expect((await okJson<{ id: string }[]>('tokens', 'list')).some((t) => t.id === id)).toBe(false);
      expect((await okJson<{ id: string; revokedAt: string }[]>('tokens', 'list', '--all')).find((t) => t.id === id)?.revokedAt).toBeTruthy();
      expect((await cli.run(['tokens', 'create', 'x', '--role', 'root'])).code).toBe(2);
    });

    it('lists audit entries with filters', async () => {
      const forLyon = await okJson<{ target: string; action: string; result: string }[]>('audit', 'list', '--target', ids.lyon!, '--limit', '100');
      expect(forLyon.map((e) => e.action)).toContain('POST /v1/sites');
      expect(forLyon.every((e) => e.target === ids.lyon)).toBe(true);
      const failed = await okJson<{ result: string; status: number }[]>('audit', '--failed', '--since', '1h');
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((e) => e.result !== 'ok')).toBe(true);
      expect(failed.some((e) => e.result === 'conflict' && e.status === 409)).toBe(true);
      expect(await okJson('audit', 'list', '--limit', '3')).toHaveLength(3);
      expect((await ok('audit', 'list', '--limit', '2')).stdout.split('\n')[0]).toMatch(/^TIME\s+ACTOR\s+ACTION\s+TARGET\s+RESULT\s+STATUS\s+REQUEST$/);
      expect((await cli.run(['audit', 'list', '--since', 'yesterday'])).code).toBe(2);
    });

    it('lists and rotates URL signing keys', async () => {
      const before = await okJson<{ kid: string; retiredAt: string | null }[]>('signing-keys', 'list');
      const rotated = await okJson('signing-keys', 'rotate');
      const after = await okJson<{ kid: string; retiredAt: string | null }[]>('signing-keys', 'list');
      expect(after).toHaveLength(before.length + 1);
      expect(after[0]).toMatchObject({ kid: rotated.kid, retiredAt: null });
      expect((await ok('signing-keys', 'list')).stdout).toMatch(new RegExp(`^${rotated.kid}\\s+\\S+ \\S+\\s+signing$`, 'm'));
    });
  });

  describe('cleaning up', () => {
    it('deletes profiles and images nothing uses any more', async () => {
      await ok('assignments', 'delete', ids.assignment!);
      await ok('profiles', 'delete', 'lyon-menu');
      const inUse = await cli.run(['images', 'delete', 'deb-kernel']);
      expect(inUse.code).toBe(5);
      expect(inUse.stderr).toContain('uses this image');
      await ok('profiles', 'delete', 'debian');
      await ok('images', 'delete', 'deb-kernel');
      expect((await api(entry, 'GET', `/v1/images/${ids.kernel}`)).status).toBe(404);
    });
  });
});
