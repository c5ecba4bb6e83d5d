import { describe, expect, it } from 'vitest';
import { signToken } from '../../../shared/crypto/signed-url.ts';
import { createSite, enrollmentCode } from '../fixtures.ts';
import { call, errorCode, randomMac, unique, type ApiTarget, type CallResult } from '../target.ts';

/** A relay with everything enrollment hands over, the direct-mode boot key included. */
export interface EnrolledRelay {
  relayId: string;
  siteId: string;
  token: string;
  bootKey: string;
  bootKeyId: string;
}

export async function enrollBootRelay(t: ApiTarget, siteId: string): Promise<EnrolledRelay> {
  const code = await enrollmentCode(t, siteId);
  const r = await call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: unique('boot-relay') } });
  if (r.status !== 201) throw new Error(`enroll gave ${r.status}: ${r.text.slice(0, 200)}`);
  return { relayId: r.body.relay.id, siteId, token: r.body.token, bootKey: r.body.bootKey, bootKeyId: r.body.bootKeyId };
}

/** A direct-mode token, signed like a relay signs it (shared/crypto/signed-url.ts). */
export async function signBootPath(relay: EnrolledRelay, path: string, opts: { expiresIn?: number; site?: string } = {}): Promise<string> {
  const bin = atob(relay.bootKey.replaceAll('-', '+').replaceAll('_', '/'));
  const secret = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  const now = Math.floor(Date.now() / 1000);
  return signToken({ kid: relay.bootKeyId, secret }, { method: 'GET', path, site: opts.site ?? relay.siteId, expiresAt: now + (opts.expiresIn ?? 300) }, now);
}

async function ok<T = any>(p: Promise<CallResult<T>>, status: number): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

const image = async (t: ApiTarget, kind: string) => (await ok(call(t, 'POST', '/v1/images', { json: { name: unique(kind), kind } }), 201)).id as string;
const profile = async (t: ApiTarget, spec: unknown) => (await ok(call(t, 'POST', '/v1/profiles', { json: { name: unique('boot-p'), spec } }), 201)) as { id: string; name: string };
const machine = async (t: ApiTarget, json: Record<string, unknown>) => (await ok(call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), ...json } }), 201)) as { id: string; mac: string };
const assign = async (t: ApiTarget, json: Record<string, unknown>) => (await ok(call(t, 'POST', '/v1/assignments', { json }), 201)).id as string;

async function linuxProfile(t: ApiTarget): Promise<{ id: string; name: string; kernel: string; initrd: string }> {
  const kernel = await image(t, 'kernel');
  const initrd = await image(t, 'initrd');
  const p = await profile(t, {
    kind: 'linux',
    kernel,
    initrds: [initrd],
    cmdline: 'console=ttyS0 host={{hostname}} edgeboot.url={{callbackUrl}} edgeboot.token={{callbackToken}} edgeboot.boot={{bootId}}',
  });
  return { ...p, kernel, initrd };
}

function boot(t: ApiTarget, relay: { token: string }, query: Record<string, string>): Promise<CallResult<string>> {
  return call(t, 'GET', `/v1/relay/boot?${new URLSearchParams(query).toString()}`, { token: relay.token });
}

const TOKEN_URL = (base: string, imageId: string, site: string) =>
  new RegExp(`${base.replaceAll('.', '\\.')}/v1/files/${imageId}\\?sig=v1\\.[a-z0-9-]{1,16}\\.([0-9]+)\\.${site}\\.[A-Za-z0-9_-]{43}(\\s|$)`, 'm');

export function bootContract(target: () => ApiTarget) {
  describe('boot scripts', () => {
    it('gives an assigned MAC a linux script with signed file URLs and its callback token (UEFI names the initrds)', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const p = await linuxProfile(t);
      const m = await machine(t, { siteId: site, hostname: 'node-1' });
      await assign(t, { profileId: p.id, selector: { mac: m.mac }, once: true });
      const base = 'http://10.0.0.5:8080';
      const before = Math.floor(Date.now() / 1000);
      const r = await boot(t, relay, { mac: m.mac.replaceAll(':', '-').toUpperCase(), arch: '7', fileBase: base });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
      expect(r.headers.get('x-edgeboot-reason')).toContain('assigned to this MAC');
      const s = r.text;
      expect(s.startsWith('#!ipxe\n')).toBe(true);
      const kernel = TOKEN_URL(base, p.kernel, site).exec(s);
      expect(kernel, s).not.toBeNull();
      expect(Number(kernel![1]) - before).toBeGreaterThan(3500);
      expect(Number(kernel![1]) - before).toBeLessThanOrEqual(3700);
      expect(s).toMatch(TOKEN_URL(base, p.initrd, site));
      const kernelLine = s.split('\n').find((l) => l.startsWith('kernel '))!;
      expect(kernelLine).toContain(' initrd=initrd0');
      expect(kernelLine).toContain(' host=node-1 ');
      expect(kernelLine).toContain(` edgeboot.url=${base}/v1/callback `);
      expect(kernelLine).toMatch(/ edgeboot\.token=ebc_[0-9a-z]{32} edgeboot\.boot=boot_[0-9a-z]{26}( |$)/);
      expect(s).toContain(`initrd --name initrd0 ${base}/v1/files/${p.initrd}?sig=`);
      expect((await ok(call(t, 'GET', `/v1/machines/${m.id}`), 200)).state).toBe('provisioning');

      // Every boot gets its own callback token.
      const again = await boot(t, relay, { mac: m.mac, arch: '7', fileBase: base });
      const token = (x: string) => /edgeboot\.token=(ebc_[0-9a-z]+)/.exec(x)![1];
      expect(token(again.text)).not.toBe(token(s));
    });

    it('leaves the initrd names off the kernel line under BIOS and uses this origin when no fileBase is given', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const p = await linuxProfile(t);
      const m = await machine(t, { siteId: site });
      await assign(t, { profileId: p.id, selector: { machineId: m.id } });
      const r = await boot(t, relay, { mac: m.mac, arch: '0' });
      expect(r.status, r.text).toBe(200);
      const kernelLine = r.text.split('\n').find((l) => l.startsWith('kernel '))!;
      expect(kernelLine).not.toContain('initrd=');
      expect(kernelLine).toMatch(/^kernel --name vmlinuz https?:\/\/[^/\s]+\/v1\/files\/img_/);
      expect(r.text).toContain('sanboot --no-describe --drive 0x80');
    });

    it("records an unknown MAC as discovered with the relay's facts and gives it the site default (local disk when none)", async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const mac = randomMac();
      const uuid = '4C4C4544-0031-3810-8052-B4C04F4E4E31';
      const r = await boot(t, relay, { mac, arch: '0', uuid, serial: 'SN-12345' });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('x-edgeboot-decision')).toBe('local');
      expect(r.headers.get('x-edgeboot-reason')).toContain('local disk');
      expect(r.text).toBe(`#!ipxe\n# edgeboot: local disk for ${mac} (bios)\nsanboot --no-describe --drive 0x80\n`);
      const m = await ok(call(t, 'GET', `/v1/machines/${mac}`), 200);
      expect(m).toMatchObject({ siteId: site, state: 'discovered', arch: 'bios', uuid: uuid.toLowerCase(), serial: 'SN-12345' });
      expect(m.lastSeenAt).not.toBeNull();

      // Facts already known are kept; the sighting only moves last_seen_at.
      await boot(t, relay, { mac, arch: '7', serial: 'OTHER' });
      expect(await ok(call(t, 'GET', `/v1/machines/${mac}`), 200)).toMatchObject({ arch: 'bios', serial: 'SN-12345' });

      // With a menu as the site default, the still-discovered machine gets the menu.
      const p = await linuxProfile(t);
      const menu = await profile(t, { kind: 'menu', title: 'Pick one', timeoutSeconds: 5, items: [{ label: 'Linux', profileId: p.id }], defaultItem: null });
      await ok(call(t, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: menu.id } }), 200);
      const r2 = await boot(t, relay, { mac, arch: '7' });
      expect(r2.headers.get('x-edgeboot-decision')).toBe('menu');
      expect(r2.text).toContain('menu Pick one');
      expect(r2.text).toContain('choose --timeout 5000 --default local target || goto local');
      expect(r2.text).toMatch(new RegExp(`^chain https?://[^\\s]+/v1/relay/boot\\?[^\\s]*&choose=${p.id} \\|\\| goto local$`, 'm'));
    });

    it('boots a profile chosen from the menu the machine gets, and refuses one the menu does not list', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const listed = await linuxProfile(t);
      const unlisted = await linuxProfile(t);
      const menu = await profile(t, { kind: 'menu', items: [{ label: 'Install', profileId: listed.id }] });
      const m = await machine(t, { siteId: site, labels: { rack: 'r12' } });
      await assign(t, { profileId: menu.id, selector: { labels: { rack: 'r12' }, siteId: site } });
      const base = 'http://relay.lan:8080';
      const shown = await boot(t, relay, { mac: m.mac, arch: '7', fileBase: base });
      expect(shown.headers.get('x-edgeboot-decision')).toBe('menu');
      const chain = /^chain (\S+) \|\| goto local$/m.exec(shown.text)![1]!;
      expect(chain.startsWith(`${base}/v1/relay/boot?`)).toBe(true);

      const picked = await call(t, 'GET', chain.slice(base.length), { token: relay.token });
      expect(picked.status, picked.text).toBe(200);
      expect(picked.headers.get('x-edgeboot-decision')).toBe('boot');
      expect(picked.headers.get('x-edgeboot-reason')).toContain(`chosen from menu ${menu.name}`);
      expect(picked.text).toMatch(TOKEN_URL(base, listed.kernel, site));

      const refused = await boot(t, relay, { mac: m.mac, arch: '7', fileBase: base, choose: unlisted.id });
      expect(refused.status).toBe(403);
      expect(errorCode(refused)).toBe('forbidden');
      expect(refused.text).not.toContain('ebc_');
    });

    it('explains the decision with its reason and changes nothing; reprovision marks the machine ready, audited', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await linuxProfile(t);
      const rack = unique('r');
      const m = await machine(t, { siteId: site, arch: 'uefi-x64', labels: { rack }, state: 'deployed' });
      const none = await ok(call(t, 'GET', `/v1/machines/${m.id}/explain`), 200);
      expect(none).toEqual({ action: 'local', reason: 'nothing assigned: local disk', arch: 'uefi-x64', profile: null, assignmentId: null, once: false, loader: null });

      const a = await assign(t, { profileId: p.id, selector: { labels: { rack } }, once: true });
      const e = await ok(call(t, 'GET', `/v1/machines/${m.mac.replaceAll(':', '')}/explain?arch=bios`), 200);
      expect(e).toEqual({ action: 'boot', reason: `assigned via label rack=${rack}: ${p.name}`, arch: 'bios', profile: { id: p.id, name: p.name }, assignmentId: a, once: true, loader: 'ipxe' });
      const after = await ok(call(t, 'GET', `/v1/machines/${m.id}`), 200);
      expect(after).toMatchObject({ state: 'deployed', lastSeenAt: null });

      const re = await call(t, 'POST', `/v1/machines/${m.id}/reprovision`);
      expect(re.status, re.text).toBe(200);
      expect(re.body).toMatchObject({ id: m.id, state: 'ready' });
      expect((await ok(call(t, 'GET', `/v1/machines/${m.id}`), 200)).state).toBe('ready');
      const audit = await ok(call(t, 'GET', `/v1/audit?siteId=${site}&limit=500`), 200);
      expect(audit.items.some((x: any) => x.target === m.id && x.action === `POST /v1/machines/${m.id}/reprovision` && x.result === 'ok')).toBe(true);

      const noSite = await machine(t, { arch: 'bios' });
      expect(await ok(call(t, 'GET', `/v1/machines/${noSite.id}/explain`), 200)).toMatchObject({ action: 'ignore', arch: null });
    });

    it('explains a MAC before its first boot: its MAC assignment anywhere, a site default with ?site=, and the boot then does what it said', async () => {
      const t = target();
      const site = await createSite(t);
      const siteName = (await ok(call(t, 'GET', `/v1/sites/${site}`), 200)).name as string;
      const relay = await enrollBootRelay(t, site);
      const byDefault = await linuxProfile(t);
      const assigned = await linuxProfile(t);
      await ok(call(t, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: byDefault.id } }), 200);

      // Unknown to the fleet, no site asked for: nothing to decide from.
      const stranger = randomMac();
      const unknown = await call(t, 'GET', `/v1/machines/${stranger}/explain?arch=bios`);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toBe(`no machine has MAC ${stranger} and no assignment names it: give a site to see what that site's default would boot`);
      // With a site: what that site's default does to a new machine.
      expect(await ok(call(t, 'GET', `/v1/machines/${stranger}/explain?arch=uefi-x64&site=${site}`), 200)).toEqual({
        action: 'boot',
        reason: `not registered yet; at its first boot at site ${siteName}: nothing assigned, site default: ${byDefault.name}`,
        arch: 'uefi-x64',
        profile: { id: byDefault.id, name: byDefault.name },
        assignmentId: null,
        once: false,
        loader: 'ipxe',
      });

      // Assigned by MAC, never booted, no machine record: the assignment decides at any site.
      const mac = randomMac();
      const a = await assign(t, { profileId: assigned.id, selector: { mac }, once: true });
      const noArch = await ok(call(t, 'GET', `/v1/machines/${mac.replaceAll(':', '-')}/explain`), 200);
      expect(noArch).toMatchObject({ action: 'ignore', arch: null });
      expect(noArch.reason).toBe(
        'not registered yet; at its first boot at any site: the architecture is not known yet (the firmware reports it when it boots): give an architecture to decide for (arch: bios, uefi-ia32, uefi-x64, uefi-arm32, uefi-arm64)',
      );
      expect(await ok(call(t, 'GET', `/v1/machines/${mac}/explain?arch=bios`), 200)).toEqual({
        action: 'boot',
        reason: `not registered yet; at its first boot at any site: assigned to this MAC: ${assigned.name}`,
        arch: 'bios',
        profile: { id: assigned.id, name: assigned.name },
        assignmentId: a,
        once: true,
        loader: 'ipxe',
      });
      expect((await ok(call(t, 'GET', `/v1/machines/${mac}/explain?arch=bios&site=${site}`), 200)).reason).toBe(
        `not registered yet; at its first boot at site ${siteName}: assigned to this MAC: ${assigned.name}`,
      );
      // Explaining wrote nothing: the machine is still unknown.
      expect((await call(t, 'GET', `/v1/machines/${mac}`)).status).toBe(404);

      const booted = await boot(t, relay, { mac, arch: '0', fileBase: 'http://10.0.0.5:8080' });
      expect(booted.status, booted.text).toBe(200);
      expect(booted.headers.get('x-edgeboot-decision')).toBe('boot');
      expect(booted.headers.get('x-edgeboot-reason')).toBe(`assigned to this MAC: ${assigned.name}`);
    });

    it('gives a MAC assignment made before the machine existed to the machine its first boot records: that boot uses it, and the machine takes it along when deleted', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const p = await linuxProfile(t);
      const mac = randomMac();
      const a = await assign(t, { profileId: p.id, selector: { mac } });
      const r = await boot(t, relay, { mac, arch: '0' });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
      expect(r.headers.get('x-edgeboot-reason')).toBe(`assigned to this MAC: ${p.name}`);
      expect(await ok(call(t, 'GET', `/v1/machines/${mac}`), 200)).toMatchObject({ siteId: site, state: 'provisioning', arch: 'bios' });
      // Adopted: the assignment now belongs to the machine, so it goes with it.
      expect((await call(t, 'DELETE', `/v1/machines/${mac}`)).status).toBe(204);
      expect((await call(t, 'GET', `/v1/assignments/${a}`)).status).toBe(404);
    });

    it('explains a registered machine without an architecture for ?arch=, and names the accepted values for a wrong one', async () => {
      const t = target();
      const site = await createSite(t);
      const p = await linuxProfile(t);
      const m = await machine(t, { siteId: site });
      const a = await assign(t, { profileId: p.id, selector: { mac: m.mac } });
      const bare = await ok(call(t, 'GET', `/v1/machines/${m.id}/explain`), 200);
      expect(bare).toMatchObject({ action: 'ignore', arch: null, profile: null });
      expect(bare.reason).toContain('(arch: bios, uefi-ia32, uefi-x64, uefi-arm32, uefi-arm64)');
      expect(await ok(call(t, 'GET', `/v1/machines/${m.id}/explain?arch=uefi-x64`), 200)).toMatchObject({ action: 'boot', arch: 'uefi-x64', assignmentId: a, profile: { id: p.id } });

      const wrong = await call(t, 'GET', `/v1/machines/${m.id}/explain?arch=x86_64`);
      expect(wrong.status).toBe(400);
      expect(errorCode(wrong)).toBe('validation_failed');
      expect(wrong.body.error.issues[0].path).toBe('arch');
      for (const name of ['bios', 'uefi-ia32', 'uefi-x64', 'uefi-arm32', 'uefi-arm64']) expect(wrong.body.error.message).toContain(name);
      expect(wrong.body.error.message.startsWith('invalid query: arch: ')).toBe(true);

      const badSite = await call(t, 'GET', `/v1/machines/${randomMac()}/explain?site=site_00000000000000000000000000`);
      expect(badSite.status).toBe(400);
      expect(badSite.body.error.issues).toEqual([{ path: 'site', message: 'no such site' }]);
    });

    it('refuses people on the relay endpoint with 403', async () => {
      const t = target();
      const r = await call(t, 'GET', `/v1/relay/boot?mac=${randomMac()}&arch=0`);
      expect(r.status).toBe(403);
      expect(errorCode(r)).toBe('forbidden');
    });

    it("never hands another site's relay a machine's script or callback token", async () => {
      const t = target();
      const siteA = await createSite(t);
      const siteB = await createSite(t);
      const relayB = await enrollBootRelay(t, siteB);
      const p = await linuxProfile(t);
      const m = await machine(t, { siteId: siteA, arch: 'bios', serial: 'KEEP-ME' });
      await assign(t, { profileId: p.id, selector: { machineId: m.id } });
      const r = await boot(t, relayB, { mac: m.mac, arch: '7', serial: 'STOLEN' });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('x-edgeboot-decision')).toBe('local');
      expect(r.text).not.toContain('ebc_');
      expect(r.text).not.toContain('/v1/files/');
      expect(await ok(call(t, 'GET', `/v1/machines/${m.id}`), 200)).toMatchObject({ siteId: siteA, serial: 'KEEP-ME', arch: 'bios', state: 'discovered', lastSeenAt: null });
      // Its one-shot and provisioning state are untouched: site A's explain still says boot.
      expect((await ok(call(t, 'GET', `/v1/machines/${m.id}/explain`), 200)).action).toBe('boot');
    });

    it('answers 404 with the envelope when the decision is to ignore the machine', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const r = await boot(t, relay, { mac: randomMac(), arch: '99' });
      expect(r.status).toBe(404);
      expect(errorCode(r)).toBe('not_found');
      expect((r as CallResult).body.error.message).toContain('unsupported client architecture 99');
    });

    it('never puts iPXE metacharacters from machine facts into a script: the render falls back to the local disk', async () => {
      const t = target();
      const site = await createSite(t);
      const relay = await enrollBootRelay(t, site);
      const tpl = await profile(t, { kind: 'ipxe', script: '#!ipxe\necho serial {{serial}}\nchain http://example.test/{{uuid}}\n' });
      for (const serial of ['x${net0/ip}', 'a#!ipxe', 'a||shell', 'a;b', '"quoted"', 'back\\slash']) {
        const m = await machine(t, { siteId: site, serial, arch: 'bios' });
        await assign(t, { profileId: tpl.id, selector: { machineId: m.id } });
        const r = await boot(t, relay, { mac: m.mac, arch: '0' });
        expect(r.status, serial).toBe(200);
        expect(r.headers.get('x-edgeboot-decision'), serial).toBe('local');
        expect(r.headers.get('x-edgeboot-reason'), serial).toContain('not rendered');
        expect(r.text, serial).not.toContain(serial);
        expect(r.text).toBe(`#!ipxe\n# edgeboot: local disk for ${m.mac} (bios)\nsanboot --no-describe --drive 0x80\n`);
      }
      // A serial the relay reports is a fact like any other: stored if printable, never rendered raw.
      const mac = randomMac();
      await assign(t, { profileId: tpl.id, selector: { mac } });
      const r = await boot(t, relay, { mac, arch: '0', serial: '${shell}' });
      expect(r.headers.get('x-edgeboot-decision')).toBe('local');
      expect(r.text).not.toContain('${shell}');
      // And a clean one renders.
      const clean = await machine(t, { siteId: site, serial: 'SN-1', arch: 'bios' });
      await assign(t, { profileId: tpl.id, selector: { machineId: clean.id } });
      const ok2 = await boot(t, relay, { mac: clean.mac, arch: '0' });
      expect(ok2.headers.get('x-edgeboot-decision')).toBe('boot');
      expect(ok2.text).toContain('echo serial SN-1\n');
    });

    describe('direct mode (relay-signed URL, no bearer)', () => {
      async function setup(t: ApiTarget) {
        const site = await createSite(t);
        const relay = await enrollBootRelay(t, site);
        const p = await linuxProfile(t);
        const m = await machine(t, { siteId: site });
        await assign(t, { profileId: p.id, selector: { machineId: m.id } });
        return { site, relay, p, m, path: `/v1/boot/${m.mac.replaceAll(':', '-')}` };
      }

      it('serves the script for a valid token, signing files for this origin', async () => {
        const t = target();
        const { site, relay, p, path, m } = await setup(t);
        expect(relay.bootKeyId).toMatch(/^[a-z0-9-]{1,16}$/);
        const r = await call(t, 'GET', `${path}?sig=${await signBootPath(relay, path)}&arch=7`, { token: null });
        expect(r.status, r.text).toBe(200);
        expect(r.headers.get('x-edgeboot-decision')).toBe('boot');
        expect(r.text).toMatch(new RegExp(`/v1/files/${p.kernel}\\?sig=v1\\.[a-z0-9-]+\\.[0-9]+\\.${site}\\.`));
        expect(r.text).toMatch(/edgeboot\.token=ebc_/);
        expect((await ok(call(t, 'GET', `/v1/machines/${m.id}`), 200)).state).toBe('provisioning');
      });

      it('refuses expired, tampered, other-path, other-site and revoked-relay tokens with 403 and malformed ones with 400, never with a script', async () => {
        const t = target();
        const { relay, path, site } = await setup(t);
        const valid = await signBootPath(relay, path);
        const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
        const other = await createSite(t);
        const cases: [string, string, number][] = [
          ['expired', await signBootPath(relay, path, { expiresIn: -1 }), 403],
          ['beyond the maximum lifetime', await signBootPath(relay, path, { expiresIn: 7200 }), 403],
          ['a flipped signature character', flip(valid, valid.length - 10), 403],
          ['another MAC', await signBootPath(relay, `/v1/boot/${randomMac().replaceAll(':', '-')}`), 403],
          ['another site', await signBootPath(relay, path, { site: other }), 403],
          ['an unknown key id', valid.replace(`.${relay.bootKeyId}.`, '.bnosuchkey.'), 403],
          ['a later expiry', valid.replace(/\.([0-9]+)\./, (_all, e: string) => `.${Number(e) + 1}.`), 403],
          ['garbage', 'not-a-token', 400],
          ['a truncated signature', valid.slice(0, -2), 400],
          ['an unknown version', valid.replace(/^v1\./, 'v2.'), 400],
        ];
        for (const [name, sig, status] of cases) {
          const r = await call(t, 'GET', `${path}?sig=${encodeURIComponent(sig)}&arch=7`, { token: null });
          expect(r.status, `${name}: ${r.text.slice(0, 200)}`).toBe(status);
          expect(errorCode(r)).toBe(status === 400 ? 'validation_failed' : 'forbidden');
          expect(r.text).not.toContain('#!ipxe');
        }
        expect((await call(t, 'GET', path, { token: null })).status).toBe(400);
        expect(site).not.toBe(other);

        await ok(call(t, 'DELETE', `/v1/relays/${relay.relayId}`), 204);
        const revoked = await call(t, 'GET', `${path}?sig=${await signBootPath(relay, path)}&arch=7`, { token: null });
        expect(revoked.status).toBe(403);
      });
    });
  });
}
