import { describe, expect, it } from 'vitest';
import { Fleet } from '../../cli/src/apply/file.ts';
import { diffFields, planFleet, summarize, type Current } from '../../cli/src/apply/plan.ts';
import { renderPlan } from '../../cli/src/apply/render.ts';

const T = '2025-01-01T00:00:00.000Z';
const img = (id: string, name: string) => ({ id, name, kind: 'kernel' as const, contentType: 'application/octet-stream', status: 'ready' as const, size: 1, sha256: null, arch: 'any' as const, binary: null, createdAt: T, updatedAt: T });
const empty = (): Current => ({ sites: [], profiles: [], images: [img('img_k', 'vmlinuz'), img('img_i', 'initrd')], machines: [], assignments: [], bmcs: [] });
const fleet = (f: unknown) => Fleet.parse(f);

const linux = { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd'], cmdline: 'quiet' };

/** The server's side of a fleet that was applied: ids everywhere, defaults filled in. */
function applied(): Current {
  const c = empty();
  c.profiles.push({ id: 'prf_l', name: 'linux', description: '', spec: { kind: 'linux', kernel: 'img_k', initrds: ['img_i'], cmdline: 'quiet' }, createdAt: T, updatedAt: T });
  c.profiles.push({ id: 'prf_m', name: 'menu', description: '', spec: { kind: 'menu', title: 'edgeboot', timeoutSeconds: 10, items: [{ label: 'Linux', profileId: 'prf_l' }], defaultItem: null }, createdAt: T, updatedAt: T });
  c.sites.push({ id: 'site_a', name: 'lyon', description: 'Lyon', defaultProfileId: 'prf_m', createdAt: T, updatedAt: T });
  c.machines.push({ id: 'mch_1', mac: '52:54:00:00:00:01', siteId: 'site_a', uuid: null, serial: 'SN1', hostname: 'web-1', arch: null, labels: { rack: 'r1', role: 'web' }, secureBoot: null, state: 'deployed', createdAt: T, updatedAt: T, lastSeenAt: null });
  c.assignments.push({ id: 'asg_1', profileId: 'prf_l', selector: { siteId: 'site_a', labels: { role: 'web', rack: 'r1' } }, once: false, priority: 5, createdAt: T, updatedAt: T });
  return c;
}
const FILE: { profiles: { name: string; spec: Record<string, unknown> }[]; sites: Record<string, unknown>[]; machines: { mac: string; site: string; hostname: string; labels: Record<string, string> }[]; assignments: Record<string, unknown>[] } = {
  profiles: [
    { name: 'menu', spec: { kind: 'menu', items: [{ label: 'Linux', profileId: 'linux' }] } },
    { name: 'linux', spec: linux },
  ],
  sites: [{ name: 'lyon', description: 'Lyon', defaultProfile: 'menu' }],
  machines: [{ mac: '52-54-00-00-00-01', site: 'lyon', hostname: 'web-1', labels: { role: 'web', rack: 'r1' } }],
  assignments: [{ selector: { labels: { rack: 'r1', role: 'web' }, site: 'lyon' }, profile: 'linux', priority: 5 }],
};

describe('diffFields', () => {
  it('descends into objects and reports one line per changed key, arrays whole', () => {
    expect(diffFields('labels', { a: '1', b: '2' }, { a: '1', b: '3', c: '4' }, true)).toEqual([
      { field: 'labels.b', from: '2', to: '3' },
      { field: 'labels.c', from: null, to: '4' },
    ]);
    expect(diffFields('labels', { a: '1', gone: 'x' }, { a: '1' }, true)).toEqual([{ field: 'labels.gone', from: 'x', to: null }]);
    expect(diffFields('spec', { initrds: ['a', 'b'] }, { initrds: ['a'] }, true)).toEqual([{ field: 'spec.initrds', from: ['a', 'b'], to: ['a'] }]);
  });

  it('ignores keys the desired side leaves out unless exact', () => {
    expect(diffFields('', { hostname: 'x', serial: 'y' }, { hostname: 'x' })).toEqual([]);
    expect(diffFields('hostname', 'x', null)).toEqual([{ field: 'hostname', from: 'x', to: null }]);
  });
});

describe('planFleet', () => {
  it('creates everything on an empty server, menus after the profiles they list', () => {
    const plan = planFleet(fleet(FILE), empty());
    expect(plan.problems).toEqual([]);
    expect(plan.steps.map((s) => `${s.action} ${s.kind} ${s.key}`)).toEqual([
      'create profile linux',
      'create profile menu',
      'create site lyon',
      'create machine 52:54:00:00:00:01',
      'create assignment site=lyon label:rack=r1 label:role=web',
    ]);
    const machine = plan.steps[3]!;
    expect(machine.changes).toEqual([
      { field: 'hostname', from: null, to: 'web-1' },
      { field: 'labels', from: null, to: { role: 'web', rack: 'r1' } },
      { field: 'site', from: null, to: 'lyon' },
    ]);
    expect(plan.steps[4]!.desired).toMatchObject({ selector: { site: 'lyon', labels: { rack: 'r1', role: 'web' } }, profile: 'linux', once: false, priority: 5 });
  });

  it('finds nothing to do when the server matches, comparing by name whatever the ids, key order or MAC spelling', () => {
    const plan = planFleet(fleet(FILE), applied());
    expect(plan.problems).toEqual([]);
    expect(summarize(plan.steps)).toEqual({ create: 0, update: 0, delete: 0, unchanged: 5 });
    expect(plan.steps.map((s) => s.id)).toEqual(['prf_l', 'prf_m', 'site_a', 'mch_1', 'asg_1']);
  });

  it('reports field-level updates in names, and leaves unmanaged fields (serial, description) alone', () => {
    const f = structuredClone(FILE);
    f.profiles[1]!.spec = { ...linux, cmdline: 'quiet splash' };
    f.machines[0]!.labels = { role: 'db' };
    f.sites[0]!.defaultProfile = 'linux';
    f.assignments[0]!.profile = 'menu';
    const plan = planFleet(fleet(f), applied());
    const byKey = Object.fromEntries(plan.steps.map((s) => [s.key, s]));
    expect(byKey.linux!.changes).toEqual([{ field: 'spec.cmdline', from: 'quiet', to: 'quiet splash' }]);
    expect(byKey['52:54:00:00:00:01']!.changes).toEqual([
      { field: 'labels.rack', from: 'r1', to: null },
      { field: 'labels.role', from: 'web', to: 'db' },
    ]);
    expect(byKey.lyon!.changes).toEqual([{ field: 'defaultProfile', from: 'menu', to: 'linux' }]);
    expect(byKey['site=lyon label:rack=r1 label:role=web']!.changes).toEqual([{ field: 'profile', from: 'linux', to: 'menu' }]);
    expect(byKey.menu!.action).toBe('unchanged');
  });

  it('accepts ids of existing objects where names are expected, and compares them as names', () => {
    const f = structuredClone(FILE);
    f.profiles[1]!.spec = { ...linux, kernel: 'img_k' };
    f.sites[0]!.defaultProfile = 'prf_m';
    expect(summarize(planFleet(fleet(f), applied()).steps).update).toBe(0);
  });

  it('names every image an imaging profile uses', () => {
    const current = empty();
    current.images.push(img('img_d', 'golden.img'));
    current.profiles.push({ id: 'prf_i', name: 'golden', description: '', spec: { kind: 'imaging', kernel: 'img_k', initrds: ['img_i'], diskImage: 'img_d', cmdline: '', verify: 'readback', onSuccess: 'reboot', onFailure: 'poweroff' }, createdAt: T, updatedAt: T });
    const spec = { kind: 'imaging', kernel: 'vmlinuz', initrds: ['initrd'], diskImage: 'golden.img' };
    expect(summarize(planFleet(fleet({ profiles: [{ name: 'golden', spec }] }), current).steps)).toMatchObject({ unchanged: 1 });
    const changed = planFleet(fleet({ profiles: [{ name: 'golden', spec: { ...spec, initrds: ['vmlinuz'] } }] }), current);
    expect(changed.steps[0]!.changes).toEqual([{ field: 'spec.initrds', from: ['initrd'], to: ['vmlinuz'] }]);
  });

  it('reports references that resolve to nothing, with their paths', () => {
    const plan = planFleet(
      fleet({
        profiles: [{ name: 'p', spec: { kind: 'linux', kernel: 'nope', initrds: ['initrd', 'gone'] } }, { name: 'm', spec: { kind: 'menu', items: [{ label: 'X', profileId: 'ghost' }] } }],
        sites: [{ name: 's', defaultProfile: 'ghost' }],
        machines: [{ mac: '52:54:00:00:00:09', site: 'atlantis' }],
        assignments: [{ selector: { site: 'atlantis' }, profile: 'p' }],
      }),
      empty(),
    );
    expect(plan.problems.map((p) => `${p.path.join('.')}: ${p.message.split(' (')[0]}`)).toEqual([
      'profiles.0.spec.kernel: no image named "nope" on the server',
      'profiles.0.spec.initrds.1: no image named "gone" on the server',
      'profiles.1.spec.items.0.profileId: no profile named "ghost" in the file or on the server',
      'sites.0.defaultProfile: no profile named "ghost" in the file or on the server',
      'machines.0.site: no site named "atlantis" in the file or on the server',
      'assignments.0.selector.site: no site named "atlantis" in the file or on the server',
    ]);
  });

  it('reports a cycle of menus', () => {
    const plan = planFleet(
      fleet({
        profiles: [
          { name: 'a', spec: { kind: 'menu', items: [{ label: 'B', profileId: 'b' }] } },
          { name: 'b', spec: { kind: 'menu', items: [{ label: 'A', profileId: 'a' }] } },
        ],
      }),
      empty(),
    );
    expect(plan.problems.map((p) => p.message)).toEqual(['menus form a cycle: a → b → a']);
  });

  it('prunes only with prune, only the sections the file has, assignments and menus first', () => {
    const current = applied();
    current.assignments.push({ id: 'asg_2', profileId: 'prf_l', selector: { mac: '52:54:00:00:00:07' }, once: true, priority: 0, createdAt: T, updatedAt: T });
    current.machines.push({ ...current.machines[0]!, id: 'mch_2', mac: '52:54:00:00:00:02' });
    const f = { profiles: [], assignments: FILE.assignments, sites: FILE.sites };
    expect(summarize(planFleet(fleet(f), current).steps).delete).toBe(0);
    const plan = planFleet(fleet(f), current, { prune: true });
    // No `machines:` section: machines are not touched. Menus go before the profiles they list.
    expect(plan.steps.filter((s) => s.action === 'delete').map((s) => `${s.kind} ${s.id}`)).toEqual(['assignment asg_2', 'profile prf_m', 'profile prf_l']);
  });

  it('matches an assignment by selector, taking the oldest of duplicates and pruning the rest', () => {
    const current = applied();
    current.assignments.push({ ...current.assignments[0]!, id: 'asg_9', selector: { labels: { rack: 'r1', role: 'web' }, siteId: 'site_a' } });
    const plan = planFleet(fleet({ assignments: FILE.assignments }), current, { prune: true });
    expect(plan.steps.map((s) => `${s.action} ${s.id}`)).toEqual(['unchanged asg_1', 'delete asg_9']);
  });
});

describe('planFleet: BMCs', () => {
  const MAC = '52:54:00:00:00:01';
  const withBmc = (bmc: unknown, extra: Record<string, unknown> = {}) => fleet({ machines: [{ mac: MAC, site: 'lyon', ...extra, bmc }] });
  const IPMI = { ipmi: '10.0.5.21', user: 'admin', passwordEnv: 'LYON_PW' };
  /** What the API shows of a BMC set from IPMI above, sealed to relay_a of site_a. */
  const stored = (o: Partial<Current['bmcs'][number]> = {}): Current['bmcs'][number] => ({
    machineId: 'mch_1', protocol: 'ipmi', address: '10.0.5.21', username: 'admin', systemId: null, tlsFingerprint: null, sealedFor: ['relay_a'], missingFor: [], updatedAt: T, ...o,
  });
  const bmcOf = (plan: ReturnType<typeof planFleet>) => plan.steps.find((s) => s.kind === 'bmc')!;
  const current = (bmc?: Current['bmcs'][number]) => {
    const c = applied();
    if (bmc) c.bmcs.push(bmc);
    return c;
  };

  it('creates a BMC, showing where the password comes from and never a password', () => {
    const s = bmcOf(planFleet(withBmc(IPMI), current()));
    expect(s).toMatchObject({ action: 'create', key: MAC, path: ['machines', 0, 'bmc'] });
    expect(s.changes).toEqual([
      { field: 'address', from: null, to: '10.0.5.21' },
      { field: 'protocol', from: null, to: 'ipmi' },
      { field: 'user', from: null, to: 'admin' },
      { field: 'password', from: null, to: 'sealed from env LYON_PW' },
    ]);
  });

  it('is unchanged when what the cloud shows matches and every relay of the site holds a sealed copy', () => {
    expect(bmcOf(planFleet(withBmc(IPMI), current(stored())))).toMatchObject({ action: 'unchanged', id: 'mch_1', changes: [] });
  });

  it('seals again, saying why, when the BMC changed, a relay has no copy, the machine moves or --reseal is given', () => {
    const why = (f: ReturnType<typeof fleet>, c: Current, o = {}) => bmcOf(planFleet(f, c, o)).changes.at(-1);
    const address = bmcOf(planFleet(withBmc({ ...IPMI, ipmi: '10.0.5.99:623' }), current(stored())));
    expect(address.action).toBe('update');
    expect(address.changes).toEqual([
      { field: 'address', from: '10.0.5.21', to: '10.0.5.99:623' },
      { field: 'password', from: 'sealed for relay_a', to: 'sealed again from env LYON_PW (the BMC changed)' },
    ]);
    expect(why(withBmc(IPMI), current(stored({ missingFor: ['relay_b'] })))).toEqual({ field: 'password', from: 'sealed for relay_a', to: 'sealed again from env LYON_PW (no sealed copy for relay relay_b)' });
    expect(why(withBmc(IPMI), current(stored()), { reseal: true })).toEqual({ field: 'password', from: 'sealed for relay_a', to: 'sealed again from env LYON_PW (--reseal)' });
    const moved = current(stored());
    moved.sites.push({ id: 'site_b', name: 'paris', description: '', defaultProfileId: null, createdAt: T, updatedAt: T });
    expect(why(withBmc({ ...IPMI, passwordFile: 'pw', passwordEnv: undefined }, { site: 'paris' }), moved)).toEqual({
      field: 'password', from: 'sealed for relay_a', to: 'sealed again from file pw (the machine moves to another site)',
    });
  });

  it('deletes the BMC for bmc: null, and leaves it alone when the file says nothing', () => {
    expect(bmcOf(planFleet(withBmc(null), current(stored())))).toMatchObject({ action: 'delete', id: 'mch_1' });
    expect(bmcOf(planFleet(withBmc(null), current()))).toMatchObject({ action: 'unchanged' });
    expect(planFleet(fleet({ machines: [{ mac: MAC }] }), current(stored())).steps.map((s) => s.kind)).toEqual(['machine']);
  });

  it('refuses a BMC for a machine that has no site', () => {
    const plan = planFleet(fleet({ machines: [{ mac: '52:54:00:00:00:09', bmc: IPMI }] }), current());
    expect(plan.problems).toEqual([{ path: ['machines', 0, 'bmc'], message: "a BMC needs the machine's site: the site's relays are the ones that reach it (give the machine a site)" }]);
  });
});

describe('renderPlan', () => {
  it('groups by kind with symbols and field changes, and sums up', () => {
    const f = structuredClone(FILE);
    f.machines[0]!.hostname = 'web-01';
    const text = renderPlan(planFleet(fleet(f), applied(), { prune: true }).steps);
    expect(text).toBe(
      [
        'profiles:',
        '  = 2 unchanged',
        'sites:',
        '  = 1 unchanged',
        'machines:',
        '  ~ update    52:54:00:00:00:01',
        '      hostname: web-1 → web-01',
        'assignments:',
        '  = 1 unchanged',
        'Plan: 0 to create, 1 to update, 0 to delete, 4 unchanged.',
      ].join('\n'),
    );
  });
});
