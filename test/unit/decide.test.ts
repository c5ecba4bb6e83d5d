import { describe, expect, it } from 'vitest';
import { decideBoot, type BootFacts, type Catalog, type CatalogAssignment, type CatalogMachine, type CatalogProfile } from '../../shared/boot/decide.ts';

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
});
