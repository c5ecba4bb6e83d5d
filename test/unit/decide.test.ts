import { describe, expect, it } from 'vitest';
import { decideBoot, loaderOf, type BootFacts, type Catalog, type CatalogAssignment, type CatalogMachine, type CatalogProfile } from '../../shared/boot/decide.ts';

const SITE = 'site_a';
const MAC = '52:54:00:12:34:56';
const profile = (id: string, spec: CatalogProfile['spec']): CatalogProfile => ({ id, name: id, spec });
const profiles = new Map<string, CatalogProfile>([
  ['debian', profile('debian', { kind: 'linux', kernel: 'k', initrds: [], cmdline: '' })],
  ['ubuntu', profile('ubuntu', { kind: 'linux', kernel: 'k2', initrds: [], cmdline: '' })],
  ['menu', profile('menu', { kind: 'menu', title: 'pick', timeoutSeconds: 5, items: [], defaultItem: null })],
  ['disk', profile('disk', { kind: 'local' })],
]);
const machine = (over: Partial<CatalogMachine> = {}): CatalogMachine => ({ id: 'mch_1', mac: MAC, siteId: SITE, labels: { rack: 'r12' }, arch: null, state: 'ready', ...over });
const asg = (id: string, profileId: string, selector: CatalogAssignment['selector'], over: Partial<CatalogAssignment> = {}): CatalogAssignment => ({
  id,
  profileId,
  selector,
  once: false,
  priority: 0,
  createdAt: '2026-11-01T00:00:00.000Z',
  ...over,
});
const catalog = (over: Partial<Catalog> = {}): Catalog => ({ machine: machine(), assignments: [], profiles, consumed: new Set(), siteDefaultProfileId: null, ...over });
const facts = (over: Partial<BootFacts> = {}): BootFacts => ({ mac: MAC, archCode: 0, siteId: SITE, ...over });

describe('decideBoot', () => {
  describe('firmware', () => {
    it.each([
      [0, 'bios'],
      [7, 'uefi-x64'],
      [9, 'uefi-x64'],
      [11, 'uefi-arm64'],
      [16, 'uefi-x64'],
    ])('boots the assignment for option 93 = %i as %s', (archCode, arch) => {
      const d = decideBoot(facts({ archCode }), catalog({ assignments: [asg('a1', 'debian', { mac: MAC })] }));
      expect(d).toMatchObject({ action: 'boot', arch, assignmentId: 'a1' });
    });

    it('ignores an architecture it has no boot path for', () => {
      expect(decideBoot(facts({ archCode: 2 }), catalog())).toMatchObject({ action: 'ignore', reason: 'unsupported client architecture 2' });
    });

    it('falls back to the recorded arch, and ignores when none is known', () => {
      expect(decideBoot(facts({ archCode: null }), catalog({ machine: machine({ arch: 'uefi-x64' }) }))).toMatchObject({ action: 'local', arch: 'uefi-x64' });
      expect(decideBoot(facts({ archCode: null }), catalog())).toMatchObject({ action: 'ignore' });
    });
  });

  describe('selector specificity', () => {
    const all = [
      asg('by-arch', 'ubuntu', { arch: 'bios' }),
      asg('by-site', 'ubuntu', { siteId: SITE }),
      asg('by-label', 'ubuntu', { labels: { rack: 'r12' } }),
      asg('by-mac', 'debian', { mac: MAC }),
    ];
    it.each([
      [all, 'by-mac', 'assigned to this MAC'],
      [all.slice(0, 3), 'by-label', 'assigned via label rack=r12'],
      [all.slice(0, 2), 'by-site', `assigned via site ${SITE}`],
      [all.slice(0, 1), 'by-arch', 'assigned via arch bios'],
      [[...all].reverse(), 'by-mac', 'assigned to this MAC'],
    ])('picks the most specific match (%#)', (assignments, id, reason) => {
      const d = decideBoot(facts(), catalog({ assignments }));
      expect(d).toMatchObject({ action: 'boot', assignmentId: id });
      expect(d.reason).toContain(reason);
    });

    it('does not apply an assignment whose labels do not all match', () => {
      const d = decideBoot(facts(), catalog({ assignments: [asg('x', 'debian', { labels: { rack: 'r12', role: 'db' } })] }));
      expect(d).toMatchObject({ action: 'local', reason: 'nothing assigned: local disk' });
    });

    it('breaks ties by priority, then age, the same in any order', () => {
      const a = asg('a', 'debian', { siteId: SITE }, { priority: 1 });
      const b = asg('b', 'ubuntu', { siteId: SITE }, { createdAt: '2026-01-01T00:00:00.000Z' });
      expect(decideBoot(facts(), catalog({ assignments: [a, b] }))).toMatchObject({ assignmentId: 'a' });
      expect(decideBoot(facts(), catalog({ assignments: [b, a] }))).toMatchObject({ assignmentId: 'a' });
    });
  });

  describe('one-shot', () => {
    const once = asg('o', 'debian', { mac: MAC }, { once: true });
    it('boots a one-shot assignment until it is consumed', () => {
      expect(decideBoot(facts(), catalog({ assignments: [once] }))).toMatchObject({ action: 'boot', once: true });
    });
    it('boots the local disk once it is consumed', () => {
      const d = decideBoot(facts(), catalog({ assignments: [once], consumed: new Set(['o']) }));
      expect(d).toMatchObject({ action: 'local' });
      expect(d.reason).toContain('one-shot consumed');
    });
    it('does not fall to a less specific assignment after consumption', () => {
      const d = decideBoot(facts(), catalog({ assignments: [once, asg('s', 'ubuntu', { siteId: SITE })], consumed: new Set(['o']) }));
      expect(d).toMatchObject({ action: 'local' });
    });
  });

  describe('unknown machines', () => {
    it('gets the local disk when the site has no default', () => {
      expect(decideBoot(facts(), catalog({ machine: null }))).toMatchObject({ action: 'local', reason: 'unknown machine; the site default is the local disk' });
    });
    it('gets the site default menu', () => {
      expect(decideBoot(facts(), catalog({ machine: null, siteDefaultProfileId: 'menu' }))).toMatchObject({ action: 'menu', profile: { id: 'menu' } });
    });
    it('gets the site default while still discovered, but not once ready', () => {
      expect(decideBoot(facts(), catalog({ machine: machine({ state: 'discovered' }), siteDefaultProfileId: 'debian' }))).toMatchObject({ action: 'boot' });
      expect(decideBoot(facts(), catalog({ machine: machine({ state: 'ready' }), siteDefaultProfileId: 'debian' }))).toMatchObject({ action: 'local' });
    });
  });

  describe('fails closed', () => {
    it.each(['', '52:54:00:12:34', '52-54-00-12-34-56', 'ZZ:54:00:12:34:56'])('ignores the MAC %j', (mac) => {
      expect(decideBoot(facts({ mac }), catalog())).toMatchObject({ action: 'ignore', reason: 'malformed MAC' });
    });
    it('boots local when the assigned profile is gone', () => {
      const d = decideBoot(facts(), catalog({ assignments: [asg('a', 'deleted', { mac: MAC })] }));
      expect(d).toMatchObject({ action: 'local' });
      expect(d.reason).toContain('no longer exists');
    });
    it('boots local when a machine of another site appears here', () => {
      expect(decideBoot(facts({ siteId: 'site_b' }), catalog({ assignments: [asg('a', 'debian', { mac: MAC })] }))).toMatchObject({ action: 'local' });
    });
    it('treats a local profile as the local disk', () => {
      expect(decideBoot(facts(), catalog({ assignments: [asg('a', 'disk', { mac: MAC })] }))).toMatchObject({ action: 'local' });
    });
    it('ignores a catalog entry for another MAC', () => {
      expect(decideBoot(facts(), catalog({ machine: machine({ mac: '52:54:00:00:00:01' }) }))).toMatchObject({ action: 'ignore' });
    });
  });

  describe('architectures and Secure Boot', () => {
    const arches = new Map<string, CatalogProfile>([
      ['deb-x86', profile('deb-x86', { kind: 'linux', arch: 'x86-64', kernel: 'k', initrds: [], cmdline: '' })],
      ['deb-arm', profile('deb-arm', { kind: 'linux', arch: 'arm64', kernel: 'k', initrds: [], cmdline: '' })],
      ['deb-any', profile('deb-any', { kind: 'linux', kernel: 'k', initrds: [], cmdline: '' })],
      ['deb-signed', profile('deb-signed', { kind: 'linux', arch: 'x86-64', shim: 'shim', grub: 'grub', kernel: 'k', initrds: [], cmdline: '' })],
      ['img-signed', profile('img-signed', { kind: 'imaging', shim: 'shim', grub: 'grub', kernel: 'k', initrds: ['i'], diskImage: 'd', cmdline: '', verify: 'readback', onSuccess: 'reboot', onFailure: 'poweroff' })],
      ['menu-plain', profile('menu-plain', { kind: 'menu', title: 'pick', timeoutSeconds: 5, items: [], defaultItem: null })],
      ['menu-signed', profile('menu-signed', { kind: 'menu', shim: 'shim', grub: 'grub', title: 'pick', timeoutSeconds: 5, items: [], defaultItem: null })],
      ['win', profile('win', { kind: 'wimboot', wimboot: 'w', bcd: 'b', bootSdi: 's', bootWim: 'x' })],
      ['script', profile('script', { kind: 'ipxe', script: '#!ipxe' })],
      ['disk', profile('disk', { kind: 'local' })],
    ]);
    const assigned = (profileId: string, m: Partial<CatalogMachine> = {}) => catalog({ machine: machine(m), profiles: arches, assignments: [asg('a1', profileId, { mac: MAC })] });

    it.each([
      ['deb-x86', 11, 'profile deb-x86 is for x86-64; this machine is ARM 64-bit UEFI: local disk'],
      ['win', 11, 'profile win is for x86-64; this machine is ARM 64-bit UEFI: local disk'],
      ['deb-arm', 0, 'profile deb-arm is for arm64; this machine is x86 BIOS: local disk'],
      ['deb-arm', 7, 'profile deb-arm is for arm64; this machine is x86-64 UEFI: local disk'],
      ['deb-x86', 6, 'profile deb-x86 is for x86-64; this machine is x86 32-bit UEFI: local disk'],
    ])('never hands profile %s to a machine with option 93 = %i', (profileId, archCode, why) => {
      const d = decideBoot(facts({ archCode }), assigned(profileId));
      expect(d).toMatchObject({ action: 'local' });
      expect(d.action === 'local' && d.reason).toBe(`assigned to this MAC: ${why}`);
    });

    it.each([
      ['deb-x86', 0],
      ['deb-x86', 7],
      ['deb-arm', 11],
      ['deb-any', 11],
      ['deb-any', 6],
      ['win', 0],
    ])('boots profile %s on a machine with option 93 = %i', (profileId, archCode) => {
      expect(decideBoot(facts({ archCode }), assigned(profileId))).toMatchObject({ action: 'boot' });
    });

    it("applies the arch rule to a site default too", () => {
      const d = decideBoot(facts({ archCode: 11 }), catalog({ machine: null, profiles: arches, siteDefaultProfileId: 'deb-x86' }));
      expect(d).toEqual({ action: 'local', arch: 'uefi-arm64', reason: 'unknown machine, site default: profile deb-x86 is for x86-64; this machine is ARM 64-bit UEFI: local disk' });
    });

    it.each([
      ['win', 'Secure Boot is on for this machine and profile win is wimboot, which cannot run under Secure Boot (wimboot and iPXE are unsigned): local disk'],
      ['script', 'Secure Boot is on for this machine and profile script is an iPXE script, which cannot run under Secure Boot (its firmware refuses iPXE): local disk'],
      ['deb-x86', 'Secure Boot is on for this machine and profile deb-x86 boots through iPXE, which its firmware refuses: give deb-x86 a --shim and --grub'],
      ['menu-plain', 'Secure Boot is on for this machine and profile menu-plain boots through iPXE, which its firmware refuses: give menu-plain a --shim and --grub'],
    ])('sends a UEFI x64 machine with Secure Boot on to its local disk for %s', (profileId, why) => {
      const d = decideBoot(facts({ archCode: 7 }), assigned(profileId, { secureBoot: true }));
      expect(d).toEqual({ action: 'local', arch: 'uefi-x64', reason: `assigned to this MAC: ${why}` });
    });

    it.each([
      ['deb-signed', 'boot'],
      ['img-signed', 'boot'],
      ['menu-signed', 'menu'],
    ])('boots %s through shim on a UEFI x64 machine with Secure Boot on', (profileId, action) => {
      const d = decideBoot(facts({ archCode: 7 }), assigned(profileId, { secureBoot: true }));
      expect(d.action).toBe(action);
      expect(loaderOf(d)).toBe('shim');
    });

    it('keeps the iPXE path where Secure Boot is off, unknown, or the firmware is BIOS', () => {
      for (const secureBoot of [false, null, undefined]) {
        expect(decideBoot(facts({ archCode: 7 }), assigned('deb-x86', { secureBoot })).action, String(secureBoot)).toBe('boot');
      }
      const bios = decideBoot(facts({ archCode: 0 }), assigned('deb-signed', { secureBoot: true }));
      expect(bios.action).toBe('boot');
      expect(loaderOf(bios)).toBe('ipxe');
    });

    it('names the loader: shim only for a signed-chain profile on UEFI x64, iPXE for the rest, none for local', () => {
      expect(loaderOf(decideBoot(facts({ archCode: 7 }), assigned('deb-signed')))).toBe('shim');
      expect(loaderOf(decideBoot(facts({ archCode: 7 }), assigned('deb-x86')))).toBe('ipxe');
      expect(loaderOf(decideBoot(facts({ archCode: 11 }), assigned('deb-arm')))).toBe('ipxe');
      expect(loaderOf(decideBoot(facts({ archCode: 7 }), assigned('disk')))).toBeNull();
      expect(loaderOf(decideBoot(facts({ archCode: 11 }), assigned('deb-signed')))).toBeNull();
    });

    it('lets a local-disk profile through whatever the arch or Secure Boot', () => {
      const d = decideBoot(facts({ archCode: 11 }), assigned('disk', { secureBoot: true }));
      expect(d).toMatchObject({ action: 'local', reason: `assigned to this MAC: profile disk boots the local disk` });
    });
  });
});
