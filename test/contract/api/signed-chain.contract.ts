import { beforeAll, describe, expect, it } from 'vitest';
import { paddedBinary, type DebianBinaryName } from '../debian-binaries.ts';
import { createSite, enrollRelay } from '../fixtures.ts';
import { call, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

/*
 * The catalog of the signed UEFI x64 chain (shim → GRUB → kernel) and of architectures: what an
 * upload records about its bytes, what a profile save refuses, and what explain says. The binaries
 * are trixie's shimx64.efi.signed, grubnetx64.efi.signed, ipxe.efi, ipxe-arm64.efi, ipxe.lkrn and the
 * e2e tests' signed Debian kernel: their real first 4 KiB (all the cloud reads) at their real size.
 */

interface Uploaded {
  id: string;
  name: string;
}

async function ok(p: Promise<CallResult>, status: number, what: string): Promise<any> {
  const r = await p;
  if (r.status !== status) throw new Error(`${what} gave ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

async function upload(t: ApiTarget, file: DebianBinaryName, create: Record<string, unknown> = {}): Promise<any> {
  const img = await ok(call(t, 'POST', '/v1/images', { json: { name: unique(file), kind: 'efi', ...create } }), 201, `create ${file}`);
  const bytes = paddedBinary(file);
  return ok(
    call(t, 'PUT', `/v1/images/${img.id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }),
    200,
    `upload ${file}`,
  );
}

/** Each target uploads the binaries once; every case reuses them (names are unique per run). */
const uploads = new WeakMap<ApiTarget, Promise<Record<DebianBinaryName, Uploaded>>>();
function binaries(t: ApiTarget): Promise<Record<DebianBinaryName, Uploaded>> {
  let p = uploads.get(t);
  if (!p) {
    p = (async () => {
      const names: DebianBinaryName[] = ['shim', 'grub', 'ipxeEfi', 'ipxeArm64', 'ipxeLkrn', 'kernel'];
      const out = {} as Record<DebianBinaryName, Uploaded>;
      for (const n of names) out[n] = await upload(t, n);
      return out;
    })();
    uploads.set(t, p);
  }
  return p;
}

async function textImage(t: ApiTarget, text: string, create: Record<string, unknown> = {}): Promise<Uploaded> {
  const img = await ok(call(t, 'POST', '/v1/images', { json: { name: unique('initrd'), kind: 'initrd', ...create } }), 201, 'create initrd');
  const bytes = new TextEncoder().encode(text);
  return ok(call(t, 'PUT', `/v1/images/${img.id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }), 200, 'upload initrd');
}

const saveProfile = (t: ApiTarget, spec: Record<string, unknown>, name = unique('p')) => call(t, 'POST', '/v1/profiles', { json: { name, spec } });

function expectIssue(r: CallResult, path: string, message: string): void {
  expect(r.status, r.text).toBe(400);
  expect(r.body.error.code).toBe('validation_failed');
  expect(r.body.error.issues).toContainEqual({ path, message });
}

export function signedChainContract(target: () => ApiTarget) {
  describe('signed chain and architectures', () => {
    let b: Record<DebianBinaryName, Uploaded>;
    let initrd: Uploaded;
    beforeAll(async () => {
      b = await binaries(target());
      initrd = await textImage(target(), 'not a binary: an initramfs stand-in');
    }, 120_000);

    it('records what the uploaded bytes are, and the arch they imply', async () => {
      const t = target();
      const shim = await ok(call(t, 'GET', `/v1/images/${b.shim.id}`), 200, 'get shim');
      expect(shim).toMatchObject({ kind: 'efi', arch: 'x86-64', binary: { format: 'pe', cpu: 'x86-64', machine: 0x8664, subsystem: 10, linux: null } });
      expect(shim.binary.signature.size).toBeGreaterThan(0);
      expect(await ok(call(t, 'GET', `/v1/images/${b.ipxeArm64.id}`), 200, 'get')).toMatchObject({ arch: 'arm64', binary: { format: 'pe', cpu: 'arm64', signature: null } });
      expect(await ok(call(t, 'GET', `/v1/images/${b.kernel.id}`), 200, 'get')).toMatchObject({ arch: 'x86-64', binary: { format: 'pe', linux: 'bzimage' } });
      expect(await ok(call(t, 'GET', `/v1/images/${initrd.id}`), 200, 'get')).toMatchObject({ arch: 'any', binary: { format: 'unknown', cpu: null } });
      const pending = await ok(call(t, 'POST', '/v1/images', { json: { name: unique('pending') } }), 201, 'create');
      expect(pending).toMatchObject({ arch: 'any', binary: null });
    });

    it('sniffs a multipart upload too, from the stored object', async () => {
      const t = target();
      const img = await ok(call(t, 'POST', '/v1/images', { json: { name: unique('grub-mp'), kind: 'efi' } }), 201, 'create');
      const bytes = paddedBinary('grub');
      const up = await ok(call(t, 'POST', `/v1/images/${img.id}/uploads`, { json: { size: bytes.length } }), 201, 'start');
      await ok(call(t, 'PUT', `/v1/images/${img.id}/uploads/${up.id}/parts/1`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }), 200, 'part');
      const done = await ok(call(t, 'POST', `/v1/images/${img.id}/uploads/${up.id}/complete`), 200, 'complete');
      expect(done).toMatchObject({ status: 'ready', arch: 'x86-64', binary: { format: 'pe', cpu: 'x86-64', subsystem: 10 } });
      expect(done.binary.signature).not.toBeNull();
    });

    it('sets an image arch the bytes do not contradict, and refuses one they do', async () => {
      const t = target();
      const plain = await textImage(t, 'arm64 initramfs stand-in');
      expect(await ok(call(t, 'PATCH', `/v1/images/${plain.id}`, { json: { arch: 'arm64' } }), 200, 'patch')).toMatchObject({ arch: 'arm64' });
      const r = await call(t, 'PATCH', `/v1/images/${b.shim.id}`, { json: { arch: 'arm64' } });
      expectIssue(r, 'arch', 'the image is an x86-64 EFI application, signed: its arch is x86-64, not arm64');
      expect((await ok(call(t, 'GET', `/v1/images/${b.shim.id}`), 200, 'get')).arch).toBe('x86-64');
    });

    it('saves a linux profile with a signed shim, GRUB and kernel, its arch taken from the kernel', async () => {
      const t = target();
      const spec = { kind: 'linux', shim: b.shim.id, grub: b.grub.id, kernel: b.kernel.id, initrds: [initrd.id], cmdline: 'console=ttyS0' };
      const r = await saveProfile(t, spec);
      expect(r.status, r.text).toBe(201);
      expect(r.body.spec).toEqual({ ...spec, arch: 'x86-64' });
    });

    it('refuses a shim without a GRUB, and a GRUB without a shim', async () => {
      const t = target();
      const message = 'a shim and a GRUB go together (shim loads GRUB): give both or neither';
      expectIssue(await saveProfile(t, { kind: 'linux', shim: b.shim.id, kernel: b.kernel.id }), 'spec.grub', message);
      expectIssue(await saveProfile(t, { kind: 'imaging', grub: b.grub.id, kernel: b.kernel.id, initrds: [initrd.id], diskImage: initrd.id }), 'spec.shim', message);
    });

    it('refuses a shim that is unsigned, or not an EFI application, and images that do not exist', async () => {
      const t = target();
      expectIssue(
        await saveProfile(t, { kind: 'linux', shim: b.ipxeEfi.id, grub: b.grub.id, kernel: b.kernel.id }),
        'spec.shim',
        `shim image ${b.ipxeEfi.name} has no Authenticode signature: Secure Boot firmware would refuse it`,
      );
      expectIssue(
        await saveProfile(t, { kind: 'linux', shim: initrd.id, grub: b.grub.id, kernel: b.kernel.id }),
        'spec.shim',
        `shim image ${initrd.name} is not an EFI application (its bytes say: not a recognised executable)`,
      );
      expectIssue(
        await saveProfile(t, { kind: 'linux', shim: 'img_00000000000000000000000000', grub: b.grub.id, kernel: b.kernel.id }),
        'spec.shim',
        'no such image: img_00000000000000000000000000',
      );
      const pending = await ok(call(t, 'POST', '/v1/images', { json: { name: unique('empty-shim') } }), 201, 'create');
      expectIssue(
        await saveProfile(t, { kind: 'linux', shim: pending.id, grub: b.grub.id, kernel: b.kernel.id }),
        'spec.shim',
        `shim image ${pending.name} has no content yet: upload it before naming it as the shim`,
      );
    });

    it('refuses an arm64 GRUB', async () => {
      const r = await saveProfile(target(), { kind: 'linux', shim: b.shim.id, grub: b.ipxeArm64.id, kernel: b.kernel.id });
      expectIssue(r, 'spec.grub', `GRUB image ${b.ipxeArm64.name} is an arm64 EFI binary; UEFI x64 machines need an x86-64 one`);
    });

    it('refuses an unsigned kernel under a shim, but not without one', async () => {
      const t = target();
      const r = await saveProfile(t, { kind: 'linux', shim: b.shim.id, grub: b.grub.id, kernel: b.ipxeLkrn.id });
      expectIssue(r, 'spec.kernel', `kernel ${b.ipxeLkrn.name} has no Secure Boot signature: GRUB under shim would refuse it`);
      expect((await saveProfile(t, { kind: 'linux', kernel: b.ipxeLkrn.id })).status).toBe(201);
    });

    it("refuses a profile whose arch contradicts its kernel's", async () => {
      const t = target();
      expectIssue(await saveProfile(t, { kind: 'linux', arch: 'arm64', kernel: b.kernel.id }), 'spec.kernel', `image ${b.kernel.name} is for x86-64, but the profile is for arm64`);
      expectIssue(await saveProfile(t, { kind: 'linux', arch: 'any', kernel: b.kernel.id }), 'spec.arch', `image ${b.kernel.name} is for x86-64: a profile that boots it cannot be for any architecture`);
      const armInitrd = await textImage(t, 'arm64 initrd', { arch: 'arm64' });
      expectIssue(await saveProfile(t, { kind: 'linux', kernel: b.kernel.id, initrds: [armInitrd.id] }), 'spec.initrds.0', `image ${armInitrd.name} is for arm64, but image ${b.kernel.name} is for x86-64`);
    });

    it('lets a menu with a shim and GRUB list only profiles GRUB can boot', async () => {
      const t = target();
      const linux = await ok(saveProfile(t, { kind: 'linux', kernel: b.kernel.id }), 201, 'linux');
      const disk = await ok(saveProfile(t, { kind: 'local' }), 201, 'local');
      const script = await ok(saveProfile(t, { kind: 'ipxe', script: '#!ipxe\nexit\n' }), 201, 'ipxe');
      const unsigned = await ok(saveProfile(t, { kind: 'linux', kernel: b.ipxeLkrn.id }), 201, 'unsigned');
      const chain = { shim: b.shim.id, grub: b.grub.id };
      const good = await saveProfile(t, { kind: 'menu', ...chain, items: [{ label: 'Linux', profileId: linux.id }, { label: 'Disk', profileId: disk.id }] });
      expect(good.status, good.text).toBe(201);
      const bad = await saveProfile(t, { kind: 'menu', ...chain, items: [{ label: 'Linux', profileId: linux.id }, { label: 'Script', profileId: script.id }, { label: 'Old', profileId: unsigned.id }] });
      expectIssue(bad, 'spec.items.1.profileId', `profile ${script.name} is a ipxe profile, which GRUB cannot boot: a menu with a shim and GRUB lists only linux, imaging and local profiles`);
      expectIssue(bad, 'spec.items.2.profileId', `profile ${unsigned.name}: kernel ${b.ipxeLkrn.name} has no Secure Boot signature: GRUB under shim would refuse it`);
      // Without shim and GRUB the same items are an iPXE menu, as before.
      expect((await saveProfile(t, { kind: 'menu', items: [{ label: 'Script', profileId: script.id }] })).status).toBe(201);
    });

    it('refuses a bad profile on PATCH too and keeps the old spec', async () => {
      const t = target();
      const p = await ok(saveProfile(t, { kind: 'linux', kernel: b.kernel.id }), 201, 'linux');
      const r = await call(t, 'PATCH', `/v1/profiles/${p.id}`, { json: { spec: { kind: 'linux', shim: b.shim.id, grub: b.ipxeArm64.id, kernel: b.kernel.id } } });
      expectIssue(r, 'spec.grub', `GRUB image ${b.ipxeArm64.name} is an arm64 EFI binary; UEFI x64 machines need an x86-64 one`);
      expect((await ok(call(t, 'GET', `/v1/profiles/${p.id}`), 200, 'get')).spec).toEqual({ kind: 'linux', arch: 'x86-64', kernel: b.kernel.id, initrds: [], cmdline: '' });
    });

    describe('machines and explain', () => {
      const machine = async (t: ApiTarget, site: string, body: Record<string, unknown>) => ok(call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId: site, ...body } }), 201, 'machine');
      const assign = async (t: ApiTarget, profileId: string, mac: string) => ok(call(t, 'POST', '/v1/assignments', { json: { profileId, selector: { mac } } }), 201, 'assignment');
      const explain = async (t: ApiTarget, id: string, arch?: string) => ok(call(t, 'GET', `/v1/machines/${id}/explain${arch ? `?arch=${arch}` : ''}`), 200, 'explain');

      it('records Secure Boot on, off and unknown', async () => {
        const t = target();
        const site = await createSite(t);
        const m = await machine(t, site, { secureBoot: true });
        expect(m.secureBoot).toBe(true);
        expect((await ok(call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { secureBoot: false } }), 200, 'patch')).secureBoot).toBe(false);
        expect((await ok(call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { hostname: 'sb-1' } }), 200, 'patch')).secureBoot).toBe(false);
        expect((await ok(call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { secureBoot: null } }), 200, 'patch')).secureBoot).toBeNull();
        expect((await machine(t, site, {})).secureBoot).toBeNull();
        const bad = await call(t, 'PATCH', `/v1/machines/${m.id}`, { json: { secureBoot: 'on' } });
        expect(bad.status).toBe(400);
      });

      it('explains why an arm64 machine does not get an x86-64 profile', async () => {
        const t = target();
        const site = await createSite(t);
        const p = await ok(saveProfile(t, { kind: 'linux', kernel: b.kernel.id }), 201, 'linux');
        const m = await machine(t, site, { arch: 'uefi-arm64' });
        await assign(t, p.id, m.mac);
        expect(await explain(t, m.id)).toMatchObject({
          action: 'local',
          arch: 'uefi-arm64',
          reason: `assigned to this MAC: profile ${p.name} is for x86-64; this machine is ARM 64-bit UEFI: local disk`,
          profile: null,
          loader: null,
        });
        expect(await explain(t, m.id, 'uefi-x64')).toMatchObject({ action: 'boot', profile: { id: p.id }, loader: 'ipxe' });
      });

      it('explains that a Secure Boot machine needs a shim and GRUB, and names shim as the loader when it has them', async () => {
        const t = target();
        const site = await createSite(t);
        const plain = await ok(saveProfile(t, { kind: 'linux', kernel: b.kernel.id }), 201, 'plain');
        const signed = await ok(saveProfile(t, { kind: 'linux', shim: b.shim.id, grub: b.grub.id, kernel: b.kernel.id }), 201, 'signed');
        const script = await ok(saveProfile(t, { kind: 'ipxe', script: '#!ipxe\nexit\n' }), 201, 'script');
        const [m1, m2, m3] = await Promise.all([1, 2, 3].map(() => machine(t, site, { arch: 'uefi-x64', secureBoot: true })));
        await assign(t, plain.id, m1!.mac);
        await assign(t, signed.id, m2!.mac);
        await assign(t, script.id, m3!.mac);
        expect(await explain(t, m1!.id)).toMatchObject({
          action: 'local',
          reason: `assigned to this MAC: Secure Boot is on for this machine and profile ${plain.name} boots through iPXE, which its firmware refuses: give ${plain.name} a --shim and --grub`,
          loader: null,
        });
        expect(await explain(t, m2!.id)).toMatchObject({ action: 'boot', profile: { id: signed.id }, loader: 'shim' });
        expect(await explain(t, m3!.id)).toMatchObject({
          action: 'local',
          reason: `assigned to this MAC: Secure Boot is on for this machine and profile ${script.name} is an iPXE script, which cannot run under Secure Boot (its firmware refuses iPXE): local disk`,
        });
        // The same machines on BIOS firmware, or with Secure Boot off, take the iPXE path.
        expect(await explain(t, m1!.id, 'bios')).toMatchObject({ action: 'boot', loader: 'ipxe' });
        expect(await explain(t, m2!.id, 'bios')).toMatchObject({ action: 'boot', loader: 'ipxe' });
        await ok(call(t, 'PATCH', `/v1/machines/${m1!.id}`, { json: { secureBoot: false } }), 200, 'patch');
        expect(await explain(t, m1!.id)).toMatchObject({ action: 'boot', loader: 'ipxe' });
      });
    });

    describe("the relay's side", () => {
      it('names the chain in the snapshot, signs its images for the relay, and renders GRUB configurations for the machine', async () => {
        const t = target();
        const site = await createSite(t);
        const relay = await enrollRelay(t, site);
        const mac = randomMac();
        const p = await ok(saveProfile(t, { kind: 'linux', kernel: b.kernel.id, initrds: [initrd.id], cmdline: 'console=ttyS0 host={{hostname}}', shim: b.shim.id, grub: b.grub.id }), 201, 'profile');
        await ok(call(t, 'POST', '/v1/assignments', { json: { profileId: p.id, selector: { mac } } }), 201, 'assign');
        const snap = await ok(call(t, 'GET', '/v1/relay/sync', { token: relay.token }), 200, 'sync');
        expect(snap.machines.find((m: any) => m.mac === mac)).toMatchObject({ netboot: true, loader: { shim: b.shim.id, grub: b.grub.id } });
        expect(snap.unknownMachines).toEqual({ netboot: false });

        const loaders = await ok(call(t, 'GET', '/v1/relay/loaders', { token: relay.token }), 200, 'loaders');
        expect(loaders.files.map((f: any) => f.imageId).sort()).toEqual([b.shim.id, b.grub.id].sort());
        const shimFile = loaders.files.find((f: any) => f.imageId === b.shim.id);
        expect(shimFile).toMatchObject({ size: paddedBinary('shim').length, path: expect.stringMatching(new RegExp(`^/v1/files/${b.shim.id}\\?sig=`)) });
        // The signed path serves the very bytes (no token: the signature is the credential).
        const got = await call(t, 'GET', shimFile.path, { token: null });
        expect(got.status).toBe(200);
        expect(got.headers.get('etag')).toBe(`"${shimFile.sha256}"`);

        const grub = await call(t, 'GET', `/v1/relay/boot?mac=${mac}&arch=7&fileBase=http://10.0.0.2:8080&format=grub`, { token: relay.token });
        expect(grub.status, grub.text).toBe(200);
        expect(grub.headers.get('x-edgeboot-decision')).toBe('boot');
        expect(grub.text).toMatch(new RegExp(`^if linux '\\(http,10\\.0\\.0\\.2:8080\\)/v1/files/${b.kernel.id}\\?sig=[^']+' 'console=ttyS0' 'host='; then$`, 'm'));
        expect(grub.text).toContain("cat '(http,10.0.0.2:8080)/grub/report/kernel-refused'");
        // The same machine asked for iPXE gets a script: the format is the loader's, the decision the same.
        const ipxe = await call(t, 'GET', `/v1/relay/boot?mac=${mac}&arch=7&fileBase=http://10.0.0.2:8080`, { token: relay.token });
        expect(ipxe.text.startsWith('#!ipxe')).toBe(true);
        expect((await call(t, 'GET', `/v1/relay/boot?mac=${mac}&arch=7&format=pxelinux`, { token: relay.token })).status).toBe(400);
      });
    });
  });
}
