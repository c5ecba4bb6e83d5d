import { describe, expect, it } from 'vitest';
import { parseFleet, selectorKey } from '../../cli/src/apply/file.ts';
import { CliError } from '../../cli/src/errors.ts';

const problems = (text: string): { message: string; details: string[]; exitCode: number } => {
  try {
    parseFleet(text, 'fleet.yaml');
  } catch (err) {
    if (err instanceof CliError) return { message: err.message, details: err.details, exitCode: err.exitCode };
    throw err;
  }
  throw new Error('the file was accepted');
};

describe('parseFleet', () => {
  it('accepts a fleet, normalising MACs and filling defaults', () => {
    const { fleet } = parseFleet('machines:\n  - mac: 5254.0000.0001\nassignments:\n  - selector: { mac: 52-54-00-00-00-01 }\n    profile: p\n', 'f.yaml');
    expect(fleet.machines).toEqual([{ mac: '52:54:00:00:00:01' }]);
    expect(fleet.assignments).toEqual([{ selector: { mac: '52:54:00:00:00:01' }, profile: 'p', once: false, priority: 0 }]);
    expect(parseFleet('', 'empty.yaml').fleet).toEqual({});
  });

  it('points at the line and column of each problem', () => {
    const p = problems(['sites:', '  - name: ok', '  - name: "bad name!"', 'profiles:', '  - name: p', '    spec:', '      kind: linux', '      kernal: x', 'machines:', '  - mac: 52:54:00:00:00:01', '    arch: sparc'].join('\n'));
    expect(p.exitCode).toBe(2);
    expect(p.details).toEqual([
      '  fleet.yaml:3:11: sites[1].name: letters, digits, space and . _ : + @ - only, starting with a letter or digit',
      expect.stringMatching(/^ {2}fleet\.yaml:7:7: profiles\[0\]\.spec\.kernel: /),
      '  fleet.yaml:8:7: profiles[0].spec: Unrecognized key: "kernal"',
      expect.stringMatching(/^ {2}fleet\.yaml:11:11: machines\[0\]\.arch: /),
    ]);
  });

  it('refuses duplicates, pointing at the second one', () => {
    const p = problems('machines:\n  - mac: 52:54:00:00:00:01\n  - mac: 52-54-00-00-00-01\nassignments:\n  - { selector: { labels: { a: x, b: y } }, profile: p }\n  - { selector: { labels: { b: y, a: x } }, profile: q }\n');
    expect(p.details).toEqual([
      '  fleet.yaml:3:5: machines[1]: machine 52:54:00:00:00:01 is already defined at machines[0]',
      '  fleet.yaml:6:5: assignments[1]: an assignment for selector label:a=x label:b=y is already defined at assignments[0]',
    ]);
  });

  it('refuses an empty selector, unknown top-level keys and bad YAML with positions', () => {
    expect(problems('assignments:\n  - selector: {}\n    profile: p\n').details).toEqual(['  fleet.yaml:2:15: assignments[0].selector: a selector needs at least one of mac, site, labels, arch']);
    expect(problems('site:\n  - name: x\n').details).toEqual(['  fleet.yaml:1:1: (top): Unrecognized key: "site"']);
    const yaml = problems('sites:\n  - name: a\n   - name: b\n');
    expect(yaml.message).toBe('fleet.yaml is not valid YAML');
    expect(yaml.details[0]).toMatch(/^ {2}fleet\.yaml:3:\d+: /);
    expect(problems('sites:\n  - name: a\nsites: []\n').details[0]).toMatch(/^ {2}fleet\.yaml:3:1: Map keys must be unique/);
  });
});

describe('parseFleet: BMCs', () => {
  const bmc = (lines: string[]) => ['machines:', '  - mac: 52:54:00:00:00:01', '    bmc:', ...lines.map((l) => `      ${l}`)].join('\n');

  it('accepts a BMC whose password is named, normalising the fingerprint', () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    const { fleet } = parseFleet(bmc(['redfish: https://10.0.5.22', 'user: root', 'passwordFile: secrets/db-2', `tlsFingerprint: "${fp}"`]), 'f.yaml');
    expect(fleet.machines![0]!.bmc).toEqual({ redfish: 'https://10.0.5.22', user: 'root', passwordFile: 'secrets/db-2', tlsFingerprint: 'ab'.repeat(32) });
    expect(parseFleet('machines:\n  - mac: 52:54:00:00:00:01\n    bmc: null\n', 'f.yaml').fleet.machines![0]!.bmc).toBeNull();
  });

  it('refuses a password written in the file, pointing at it', () => {
    expect(problems(bmc(['ipmi: 10.0.5.21', 'user: admin', 'password: hunter2', 'passwordEnv: PW'])).details).toEqual([
      '  fleet.yaml:6:17: machines[0].bmc.password: a BMC password never goes in the fleet file: name it with passwordEnv or passwordFile',
    ]);
  });

  it('wants one address, one password source, and Redfish-only fields only for Redfish', () => {
    expect(problems(bmc(['user: admin', 'passwordEnv: PW'])).details).toEqual(['  fleet.yaml:4:7: machines[0].bmc: give exactly one of ipmi (an address) or redfish (a URL)']);
    expect(problems(bmc(['ipmi: 10.0.5.21', 'user: admin'])).details).toEqual(['  fleet.yaml:4:7: machines[0].bmc: give exactly one of passwordEnv or passwordFile']);
    expect(problems(bmc(['ipmi: 10.0.5.21', 'user: admin', 'passwordEnv: PW', 'passwordFile: pw'])).details).toEqual(['  fleet.yaml:4:7: machines[0].bmc: give exactly one of passwordEnv or passwordFile']);
    expect(problems(bmc(['ipmi: 10.0.5.21', 'user: admin', 'passwordEnv: PW', 'systemId: "1"'])).details).toEqual(['  fleet.yaml:4:7: machines[0].bmc: systemId and tlsFingerprint are for Redfish']);
    expect(problems(bmc(['redfish: "https://root:calvin@10.0.5.22"', 'user: root', 'passwordEnv: PW'])).details).toEqual([
      '  fleet.yaml:4:16: machines[0].bmc.redfish: put the user in --user and the password on stdin, not in the URL',
    ]);
    expect(problems(bmc(['ipmi: 10.0.5.21', 'user: admin', 'passwordEnv: "not a name"'])).details).toEqual(['  fleet.yaml:6:20: machines[0].bmc.passwordEnv: an environment variable name']);
  });
});

describe('selectorKey', () => {
  it('is the same for equal selectors whatever the order of their parts', () => {
    expect(selectorKey({ labels: { b: '2', a: '1' }, arch: 'bios', site: 'x' })).toBe(selectorKey({ site: 'x', arch: 'bios', labels: { a: '1', b: '2' } }));
    expect(selectorKey({ mac: '52:54:00:00:00:01' })).not.toBe(selectorKey({ mac: '52:54:00:00:00:02' }));
  });
});
