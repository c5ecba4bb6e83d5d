import { describe, expect, it } from 'vitest';
import { describe as describeSelector, selectAssignment, specificity, type MachineFacts, type Selectable, type SelectorFields } from '../../shared/boot/select.ts';

const machine: MachineFacts = {
  id: 'mch_a',
  mac: '52:54:00:12:34:56',
  siteId: 'site_lyon',
  labels: { rack: 'r12', role: 'db', env: 'prod' },
  arch: 'uefi-x64',
};

let seq = 0;
function a(selector: SelectorFields, extra: Partial<Selectable> = {}): Selectable {
  seq++;
  return { id: `asg_${String(seq).padStart(4, '0')}`, selector, priority: 0, createdAt: '2026-11-25T12:00:00.000Z', ...extra };
}

/** Every permutation for small arrays, a fixed set of rotations and reversals otherwise. */
function orders<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 5) {
    if (xs.length <= 1) return [[...xs]];
    return xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
  }
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i++) {
    const rot = [...xs.slice(i), ...xs.slice(0, i)];
    out.push(rot, [...rot].reverse());
  }
  return out;
}

describe('specificity', () => {
  it.each<[string, SelectorFields, number | null]>([
    ['machine id', { machineId: 'mch_a' }, 1000],
    ['MAC', { mac: '52:54:00:12:34:56' }, 1000],
    ['machine id and MAC count once', { machineId: 'mch_a', mac: '52:54:00:12:34:56' }, 1000],
    ['one label', { labels: { rack: 'r12' } }, 10],
    ['two labels', { labels: { rack: 'r12', role: 'db' } }, 20],
    ['site', { siteId: 'site_lyon' }, 2],
    ['arch', { arch: 'uefi-x64' }, 1],
    ['site + arch + label', { siteId: 'site_lyon', arch: 'uefi-x64', labels: { env: 'prod' } }, 13],
    ['empty labels add nothing', { labels: {}, arch: 'uefi-x64' }, 1],
    ['another machine id', { machineId: 'mch_b' }, null],
    ['another MAC', { mac: '52:54:00:00:00:01' }, null],
    ['id matches but MAC does not', { machineId: 'mch_a', mac: '52:54:00:00:00:01' }, null],
    ['a label with another value', { labels: { rack: 'r13' } }, null],
    ['a label the machine lacks', { labels: { rack: 'r12', gpu: 'yes' } }, null],
    ['a label key inherited from Object.prototype', { labels: { constructor: 'x' } }, null],
    ['another site', { siteId: 'site_paris' }, null],
    ['another arch', { arch: 'bios' }, null],
    ['site matches, arch does not', { siteId: 'site_lyon', arch: 'bios' }, null],
  ])('%s → %s', (_name, selector, expected) => {
    expect(specificity(selector, machine)).toBe(expected);
  });

  it('never matches a site or arch selector against a machine without one', () => {
    const bare: MachineFacts = { ...machine, siteId: null, arch: null };
    expect(specificity({ siteId: 'site_lyon' }, bare)).toBeNull();
    expect(specificity({ arch: 'uefi-x64' }, bare)).toBeNull();
  });

  it('ranks the tiers strictly: 32 labels + site + arch stay below the machine, site + arch below one label', () => {
    const labels = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v']));
    const many: MachineFacts = { ...machine, labels };
    expect(specificity({ labels, siteId: 'site_lyon', arch: 'uefi-x64' }, many)!).toBeLessThan(specificity({ mac: machine.mac }, many)!);
    expect(specificity({ siteId: 'site_lyon', arch: 'uefi-x64' }, many)!).toBeLessThan(specificity({ labels: { k0: 'v' } }, many)!);
    expect(specificity({ arch: 'uefi-x64' }, many)!).toBeLessThan(specificity({ siteId: 'site_lyon' }, many)!);
  });
});

describe('selectAssignment', () => {
  const byArch = a({ arch: 'uefi-x64' }, { priority: 100 });
  const bySite = a({ siteId: 'site_lyon' }, { priority: 50 });
  const bySiteArch = a({ siteId: 'site_lyon', arch: 'uefi-x64' });
  const byLabel = a({ labels: { rack: 'r12' } });
  const byTwoLabels = a({ labels: { rack: 'r12', role: 'db' } }, { priority: -5 });
  const byMac = a({ mac: '52:54:00:12:34:56' }, { priority: -1000 });
  const byId = a({ machineId: 'mch_a' });
  const otherMachine = a({ machineId: 'mch_b' }, { priority: 1000 });
  const otherSite = a({ siteId: 'site_paris' }, { priority: 1000 });

  it.each<[string, Selectable[], Selectable | null, string | null]>([
    ['nothing when no candidate', [], null, null],
    ['nothing when no candidate matches', [otherMachine, otherSite], null, null],
    ['site beats arch whatever the priority', [byArch, bySite], bySite, 'assigned via site site_lyon'],
    ['site + arch beats site alone', [bySite, bySiteArch], bySiteArch, 'assigned via site site_lyon and arch uefi-x64'],
    ['one label beats site + arch', [bySiteArch, byLabel, byArch], byLabel, 'assigned via label rack=r12'],
    ['two labels beat one label', [byLabel, byTwoLabels], byTwoLabels, 'assigned via labels rack=r12, role=db'],
    ['the MAC beats labels even at the lowest priority', [byTwoLabels, byMac, byLabel], byMac, 'assigned to this MAC'],
    ['the machine id and the MAC tie on specificity; priority decides', [byMac, byId], byId, 'assigned to this machine'],
    ['a non-matching selector never wins, whatever its priority', [otherMachine, otherSite, byArch], byArch, 'assigned via arch uefi-x64'],
  ])('%s', (_name, candidates, winner, reason) => {
    const got = selectAssignment(machine, candidates);
    expect(got?.assignment ?? null).toBe(winner);
    expect(got?.reason ?? null).toBe(reason);
  });

  describe('ties between equally specific matches', () => {
    const t0 = '2026-11-25T12:00:00.000Z';
    const t1 = '2026-11-25T12:00:01.000Z';
    it.each<[string, Selectable[], string]>([
      ['higher priority wins', [a({ siteId: 'site_lyon' }, { id: 'asg_1', priority: 1 }), a({ siteId: 'site_lyon' }, { id: 'asg_2', priority: 2 })], 'asg_2'],
      ['negative priorities compare as numbers', [a({ arch: 'uefi-x64' }, { id: 'asg_1', priority: -10 }), a({ arch: 'uefi-x64' }, { id: 'asg_2', priority: -2 })], 'asg_2'],
      ['on equal priority the older wins', [a({ siteId: 'site_lyon' }, { id: 'asg_1', createdAt: t1 }), a({ siteId: 'site_lyon' }, { id: 'asg_2', createdAt: t0 })], 'asg_2'],
      ['on equal priority and age the smaller id wins', [a({ siteId: 'site_lyon' }, { id: 'asg_b', createdAt: t0 }), a({ siteId: 'site_lyon' }, { id: 'asg_a', createdAt: t0 })], 'asg_a'],
      [
        'different labels with the same count tie on specificity, then priority decides',
        [a({ labels: { rack: 'r12' } }, { id: 'asg_1' }), a({ labels: { env: 'prod' } }, { id: 'asg_2', priority: 1 })],
        'asg_2',
      ],
      [
        'times compare as instants, not strings',
        [a({ arch: 'uefi-x64' }, { id: 'asg_1', createdAt: '2026-11-25T12:00:00.5Z' }), a({ arch: 'uefi-x64' }, { id: 'asg_2', createdAt: '2026-11-25T12:00:00.25Z' })],
        'asg_2',
      ],
    ])('%s', (_name, candidates, winnerId) => {
      for (const order of orders(candidates)) expect(selectAssignment(machine, order)!.assignment.id).toBe(winnerId);
    });
  });

  it('picks the same winner from every order of a mixed candidate set', () => {
    const t0 = '2026-11-25T12:00:00.000Z';
    const set = [
      a({ labels: { rack: 'r12' } }, { id: 'asg_5', priority: 3, createdAt: t0 }),
      a({ labels: { role: 'db' } }, { id: 'asg_4', priority: 3, createdAt: t0 }),
      a({ labels: { env: 'prod' } }, { id: 'asg_6', priority: 3, createdAt: '2026-11-25T11:00:00.000Z' }),
      a({ labels: { env: 'prod' } }, { id: 'asg_1', priority: 2 }),
      a({ siteId: 'site_lyon', arch: 'uefi-x64' }, { id: 'asg_0', priority: 1000 }),
      a({ labels: { rack: 'r13' } }, { id: 'asg_9', priority: 1000 }),
    ];
    const winners = new Set(orders(set).map((o) => selectAssignment(machine, o)!.assignment.id));
    expect([...winners]).toEqual(['asg_6']);
  });

  it('reports the specificity of the winner', () => {
    expect(selectAssignment(machine, [a({ siteId: 'site_lyon', labels: { rack: 'r12' } })])!.specificity).toBe(12);
  });
});

describe('describe', () => {
  it.each<[SelectorFields, string]>([
    [{ machineId: 'mch_a', mac: '52:54:00:12:34:56' }, 'assigned to this machine'],
    [{ mac: '52:54:00:12:34:56', siteId: 'site_lyon' }, 'assigned to this MAC'],
    [{ labels: { role: 'db', rack: 'r12' }, siteId: 'site_lyon', arch: 'bios' }, 'assigned via labels rack=r12, role=db and site site_lyon and arch bios'],
    [{ arch: 'bios' }, 'assigned via arch bios'],
  ])('%j → %s', (selector, text) => {
    expect(describeSelector(selector)).toBe(text);
  });
});
