import { describe, expect, it } from 'vitest';
import { createSite, createToken, enrollRelay } from '../fixtures.ts';
import { call, errorCode, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

async function createProfile(t: ApiTarget, spec: Record<string, unknown>, name = unique('prf')): Promise<any> {
  const r = await call(t, 'POST', '/v1/profiles', { json: { name, spec } });
  if (r.status !== 201) throw new Error(`create profile gave ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

function issues(r: CallResult): { path: string; message: string }[] {
  return r.body.error.issues ?? [];
}

const NO_IMAGE = 'img_00000000000000000000000000';

export function profilesContract(target: () => ApiTarget) {
  describe('profiles', () => {
    it('creates, reads, lists by kind, changes and deletes a profile', async () => {
      const t = target();
      const name = unique('installer');
      const created = await call(t, 'POST', '/v1/profiles', { json: { name, description: 'shell', spec: { kind: 'ipxe', script: '#!ipxe\nshell' } } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name, description: 'shell', spec: { kind: 'ipxe', script: '#!ipxe\nshell' } });
      expect(created.body.id).toMatch(/^prf_[0-9a-z]{26}$/);
      const id = created.body.id as string;
      expect((await call(t, 'GET', `/v1/profiles/${id}`)).body).toEqual(created.body);

      const local = await createProfile(t, { kind: 'local' });
      const ipxeIds = (await call(t, 'GET', '/v1/profiles?kind=ipxe&limit=500')).body.items.map((p: { id: string }) => p.id);
      expect(ipxeIds).toContain(id);
      expect(ipxeIds).not.toContain(local.id);

      // A new spec replaces the old one whole, and may change the kind.
      const changed = await call(t, 'PATCH', `/v1/profiles/${id}`, { json: { spec: { kind: 'local' } } });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ id, name, description: 'shell', spec: { kind: 'local' } });
      expect((await call(t, 'GET', '/v1/profiles?kind=local&limit=500')).body.items.map((p: { id: string }) => p.id)).toContain(id);

      expect((await call(t, 'DELETE', `/v1/profiles/${id}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/profiles/${id}`)).status).toBe(404);
    });

    it('fills in spec defaults', async () => {
      const menu = await createProfile(target(), { kind: 'menu' });
      expect(menu.spec).toEqual({ kind: 'menu', title: 'edgeboot', timeoutSeconds: 10, items: [], defaultItem: null });
    });

    it('refuses a duplicate name with 409', async () => {
      const t = target();
      const name = unique('dup');
      await createProfile(t, { kind: 'local' }, name);
      const again = await call(t, 'POST', '/v1/profiles', { json: { name, spec: { kind: 'local' } } });
      expect(again.status).toBe(409);
      expect(errorCode(again)).toBe('conflict');
      const other = await createProfile(t, { kind: 'local' });
      expect((await call(t, 'PATCH', `/v1/profiles/${other.id}`, { json: { name } })).status).toBe(409);
    });

    it('refuses image references that do not exist, naming every bad field', async () => {
      const t = target();
      const cases: [Record<string, unknown>, string[]][] = [
        [{ kind: 'linux', kernel: NO_IMAGE }, ['spec.kernel']],
        [{ kind: 'linux', kernel: NO_IMAGE, initrds: [NO_IMAGE, 'img_x'] }, ['spec.kernel', 'spec.initrds.0', 'spec.initrds.1']],
        [{ kind: 'wimboot', wimboot: NO_IMAGE, bcd: NO_IMAGE, bootSdi: NO_IMAGE, bootWim: NO_IMAGE }, ['spec.wimboot', 'spec.bcd', 'spec.bootSdi', 'spec.bootWim']],
        [{ kind: 'imaging', kernel: NO_IMAGE, initrds: [NO_IMAGE], diskImage: NO_IMAGE }, ['spec.kernel', 'spec.initrds.0', 'spec.diskImage']],
      ];
      for (const [spec, paths] of cases) {
        const r = await call(t, 'POST', '/v1/profiles', { json: { name: unique('bad'), spec } });
        expect(r.status, JSON.stringify(spec)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
        expect(issues(r).map((i) => i.path)).toEqual(paths);
      }
      const local = await createProfile(t, { kind: 'local' });
      const patched = await call(t, 'PATCH', `/v1/profiles/${local.id}`, { json: { spec: { kind: 'wimboot', wimboot: NO_IMAGE, bcd: NO_IMAGE, bootSdi: NO_IMAGE, bootWim: NO_IMAGE } } });
      expect(patched.status).toBe(400);
      expect(issues(patched).map((i) => i.path)).toEqual(['spec.wimboot', 'spec.bcd', 'spec.bootSdi', 'spec.bootWim']);
      expect((await call(t, 'GET', `/v1/profiles/${local.id}`)).body.spec).toEqual({ kind: 'local' });
    });

    it('accepts image references to images that exist (created through /v1/images)', async () => {
      const t = target();
      const image = async (kind: string) =>
        (await call(t, 'POST', '/v1/images', { json: { name: unique('img'), kind } })).body.id as string;
      const [kernel, initrd, disk] = [await image('kernel'), await image('initrd'), await image('disk-raw')];
      expect(kernel).toMatch(/^img_/);
      const linux = await call(t, 'POST', '/v1/profiles', { json: { name: unique('linux'), spec: { kind: 'linux', kernel, initrds: [initrd], cmdline: 'console=ttyS0' } } });
      expect(linux.status).toBe(201);
      expect(linux.body.spec).toEqual({ kind: 'linux', kernel, initrds: [initrd], cmdline: 'console=ttyS0' });
      const imaging = await call(t, 'POST', '/v1/profiles', { json: { name: unique('imaging'), spec: { kind: 'imaging', kernel, initrds: [initrd], diskImage: disk } } });
      expect(imaging.status).toBe(201);
      expect(imaging.body.spec).toEqual({ kind: 'imaging', kernel, initrds: [initrd], diskImage: disk, cmdline: '', verify: 'readback', onSuccess: 'reboot', onFailure: 'poweroff' });
      // The imager writes disk images only: a kernel as the disk image is refused by name.
      const notDisk = await call(t, 'POST', '/v1/profiles', { json: { name: unique('imaging'), spec: { kind: 'imaging', kernel, initrds: [initrd], diskImage: initrd } } });
      expect(notDisk.status).toBe(400);
      expect(issues(notDisk)).toEqual([{ path: 'spec.diskImage', message: expect.stringContaining('disk-raw, disk-gz or disk-zst') }]);
      const mixed = await call(t, 'PATCH', `/v1/profiles/${linux.body.id}`, { json: { spec: { kind: 'linux', kernel, initrds: [initrd, NO_IMAGE] } } });
      expect(mixed.status).toBe(400);
      expect(issues(mixed).map((i) => i.path)).toEqual(['spec.initrds.1']);
    });

    it('refuses malformed specs with 400', async () => {
      const t = target();
      for (const spec of [{ kind: 'windows' }, { kind: 'local', extra: 1 }, { kind: 'ipxe' }, { kind: 'menu', timeoutSeconds: -1 }, { kind: 'menu', title: 'a${x}' }]) {
        const r = await call(t, 'POST', '/v1/profiles', { json: { name: unique('bad'), spec } });
        expect(r.status, JSON.stringify(spec)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
    });

    it("refuses menu items that name no profile and a default item past the menu's end", async () => {
      const t = target();
      const local = await createProfile(t, { kind: 'local' });
      const r = await call(t, 'POST', '/v1/profiles', {
        json: {
          name: unique('menu'),
          spec: { kind: 'menu', items: [{ label: 'Disk', profileId: local.id }, { label: 'Ghost', profileId: 'prf_00000000000000000000000000' }], defaultItem: 2 },
        },
      });
      expect(r.status).toBe(400);
      expect(issues(r).map((i) => i.path)).toEqual(['spec.items.1.profileId', 'spec.defaultItem']);
    });

    it('refuses a menu change that would make a cycle of menus', async () => {
      const t = target();
      const local = await createProfile(t, { kind: 'local' });
      const inner = await createProfile(t, { kind: 'menu', items: [{ label: 'Disk', profileId: local.id }] });
      const outer = await createProfile(t, { kind: 'menu', items: [{ label: 'More', profileId: inner.id }] });
      const top = await createProfile(t, { kind: 'menu', items: [{ label: 'Outer', profileId: outer.id }] });

      const loop = await call(t, 'PATCH', `/v1/profiles/${inner.id}`, { json: { spec: { kind: 'menu', items: [{ label: 'Back', profileId: top.id }] } } });
      expect(loop.status).toBe(400);
      expect(issues(loop)).toEqual([{ path: 'spec.items.0.profileId', message: `makes a cycle of menus: ${[inner.id, top.id, outer.id, inner.id].join(' → ')}` }]);
      const self = await call(t, 'PATCH', `/v1/profiles/${inner.id}`, {
        json: { spec: { kind: 'menu', items: [{ label: 'Disk', profileId: local.id }, { label: 'Me', profileId: inner.id }] } },
      });
      expect(self.status).toBe(400);
      expect(issues(self).map((i) => i.path)).toEqual(['spec.items.1.profileId']);

      // Nesting without a cycle is fine, and so is the same target twice.
      const fine = await call(t, 'PATCH', `/v1/profiles/${top.id}`, {
        json: { spec: { kind: 'menu', items: [{ label: 'Outer', profileId: outer.id }, { label: 'Inner', profileId: inner.id }, { label: 'Again', profileId: inner.id }] } },
      });
      expect(fine.status).toBe(200);
    });

    it('refuses to delete a profile that an assignment, a site default or a menu uses', async () => {
      const t = target();
      const used = async (): Promise<CallResult> => call(t, 'DELETE', `/v1/profiles/${p.id}`);
      const p = await createProfile(t, { kind: 'local' });

      const menu = await createProfile(t, { kind: 'menu', items: [{ label: 'Disk', profileId: p.id }] });
      let r = await used();
      expect(r.status).toBe(409);
      expect(errorCode(r)).toBe('conflict');
      expect(r.body.error.message).toContain('menu');
      expect((await call(t, 'DELETE', `/v1/profiles/${menu.id}`)).status).toBe(204);

      const site = (await call(t, 'POST', '/v1/sites', { json: { name: unique('s'), defaultProfileId: p.id } })).body.id as string;
      r = await used();
      expect(r.status).toBe(409);
      expect(r.body.error.message).toContain('site default');
      expect((await call(t, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: null } })).status).toBe(200);

      const a = await call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { mac: randomMac() } } });
      expect(a.status).toBe(201);
      r = await used();
      expect(r.status).toBe(409);
      expect(r.body.error.message).toContain('assignment');
      expect((await call(t, 'DELETE', `/v1/assignments/${a.body.id}`)).status).toBe(204);

      expect((await used()).status).toBe(204);
      expect((await used()).status).toBe(404);
    });

    it('lets operators and viewers read the catalog, only admins change it, relays nothing', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await createProfile(t, { kind: 'local' });
      const operator = (await createToken(t, { role: 'operator', siteIds: [site] })).token;
      const viewer = (await createToken(t, { role: 'viewer', siteIds: [site] })).token;
      const relay = (await enrollRelay(t, site)).token;
      for (const token of [operator, viewer]) {
        expect((await call(t, 'GET', `/v1/profiles/${p.id}`, { token })).status).toBe(200);
        expect((await call(t, 'GET', '/v1/profiles', { token })).status).toBe(200);
        for (const [method, path, json] of [
          ['POST', '/v1/profiles', { name: unique('x'), spec: { kind: 'local' } }],
          ['PATCH', `/v1/profiles/${p.id}`, { description: 'x' }],
          ['DELETE', `/v1/profiles/${p.id}`, undefined],
        ] as const) {
          const r = await call(t, method, path, { token, json });
          expect(r.status, `${method} ${path}`).toBe(403);
          expect(errorCode(r)).toBe('forbidden');
        }
      }
      expect((await call(t, 'GET', `/v1/profiles/${p.id}`, { token: relay })).status).toBe(403);
      expect((await call(t, 'GET', '/v1/profiles', { token: relay })).status).toBe(403);
    });
  });
}
