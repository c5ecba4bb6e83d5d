import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderScript, renderTemplate } from '../../shared/boot/ipxe-script.ts';
import { ProfileCreate } from '../../shared/schemas/profile.ts';

/**
 * The worked examples of docs/installers.md are profiles users will paste: each must be a valid
 * profile, render its iPXE script, and render every answer file for a machine.
 */
const doc = readFileSync(new URL('../../docs/installers.md', import.meta.url), 'utf8');
const examples = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

const vars = {
  mac: '52:54:00:12:34:56',
  machineId: 'mch_01kc0000000000000000000000',
  hostname: 'node-7',
  siteId: 'site_01kc0000000000000000000000',
  arch: 'bios',
  callbackUrl: 'http://10.0.0.2:8080/v1/callback',
  callbackToken: 'ebc_abcdefghijklmnopqrstuvwxyz012345',
  bootId: 'boot_01kc0000000000000000000000',
  filesUrl: 'http://10.0.0.2:8080/v1/callback/files/ebc_abcdefghijklmnopqrstuvwxyz012345',
};

describe('docs/installers.md examples', () => {
  it('has the five worked examples (preseed, autoinstall, kickstart, cloud-init, WinPE)', () => {
    expect(examples.map((e) => (parse(e.replace(/<([^>\n]+)>/g, 'img_x')) as { name: string }).name)).toEqual([
      'debian-12-preseed',
      'ubuntu-24.04-autoinstall',
      'rocky-9-kickstart',
      'live-cloud-init',
      'winpe-setup',
    ]);
  });

  for (const text of examples) {
    const raw = parse(text.replace(/<([^>\n]+)>/g, (_m, name: string) => `img_${name.replace(/[^a-z0-9]/gi, '').toLowerCase()}`)) as { name: string };
    it(`${raw.name} is a valid profile whose script and answer files render`, () => {
      const profile = ProfileCreate.parse(raw);
      const spec = profile.spec;
      const script = renderScript(spec, { arch: 'bios', profileName: profile.name, mac: vars.mac, vars, fileUrl: (id) => `http://10.0.0.2:8080/v1/files/${id}?sig=x`, chooseUrl: () => '' });
      expect(script).toMatch(/^#!ipxe\n/);
      if (spec.kind !== 'linux' && spec.kind !== 'wimboot') throw new Error(`unexpected kind ${spec.kind}`);
      expect(spec.files?.length).toBeGreaterThan(0);
      for (const f of spec.files ?? []) {
        const out = renderTemplate(f.template, vars);
        expect(out, f.name).not.toContain('{{');
        if (f.template.includes('{{callbackToken}}')) expect(out).toContain(vars.callbackToken);
      }
      // Every file the command line or wimboot points at is one the profile serves (meta-data has a default).
      for (const m of script.matchAll(/\/v1\/callback\/files\/ebc_[A-Za-z0-9]+\/([A-Za-z0-9._-]+)/g)) {
        expect([...(spec.files ?? []).map((f) => f.name), 'meta-data']).toContain(m[1]);
      }
    });
  }
});
