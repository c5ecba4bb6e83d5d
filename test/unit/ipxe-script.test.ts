import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderScript, renderTemplate, RenderError, unknownTemplateVariables, type RenderContext } from '../../shared/boot/ipxe-script.ts';
import { ProfileSpec } from '../../shared/schemas/profile.ts';
import type { Arch } from '../../shared/schemas/common.ts';
import { renderContext } from './support/render-context.ts';

/** Golden files: `UPDATE_GOLDEN=1 npm exec -- vitest run test/unit/ipxe-script.test.ts` rewrites them. */
const GOLDEN = new URL('../golden/ipxe/', import.meta.url);

function ctx(arch: Arch, over: Partial<RenderContext> = {}): RenderContext {
  return { ...renderContext(arch), ...over };
}

const specs: Record<string, unknown> = {
  linux: {
    kind: 'linux',
    kernel: 'img_kernel',
    initrds: ['img_initrd', 'img_firmware'],
    cmdline: 'console=ttyS0 hostname={{hostname}} rack={{label.rack}} edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}}',
  },
  local: { kind: 'local' },
  menu: {
    kind: 'menu',
    title: 'Lyon provisioning',
    timeoutSeconds: 10,
    items: [
      { label: 'Debian 13 installer', profileId: 'prf_debian' },
      { label: 'Memtest (x86)', profileId: 'prf_memtest' },
    ],
    defaultItem: null,
  },
  wimboot: { kind: 'wimboot', wimboot: 'img_wimboot', bcd: 'img_bcd', bootSdi: 'img_sdi', bootWim: 'img_wim' },
  'wimboot-files': {
    kind: 'wimboot',
    wimboot: 'img_wimboot',
    bcd: 'img_bcd',
    bootSdi: 'img_sdi',
    bootWim: 'img_wim',
    files: [
      { name: 'winpeshl.ini', template: '[LaunchApps]\r\n"install.bat"\r\n' },
      { name: 'install.bat', template: 'wpeinit\r\ncurl -X POST {{callbackUrl}}/succeeded?token={{callbackToken}}\r\n' },
    ],
  },
  imaging: { kind: 'imaging', kernel: 'img_imager', initrds: ['img_imagerinitrd'], diskImage: 'img_disk', cmdline: 'console=ttyS0 hostname={{hostname}}' },
  'linux-preseed': {
    kind: 'linux',
    kernel: 'img_kernel',
    initrds: ['img_initrd'],
    cmdline: 'auto=true priority=critical url={{filesUrl}}/preseed.cfg',
    files: [{ name: 'preseed.cfg', template: 'd-i netcfg/get_hostname string {{hostname}}\n' }],
  },
  ipxe: { kind: 'ipxe', script: '#!ipxe\necho hello {{hostname}}\nchain http://10.0.0.2:8080/custom?mac={{mac}}' },
};

describe('renderScript golden files', () => {
  for (const [name, raw] of Object.entries(specs)) {
    for (const arch of ['bios', 'uefi-x64'] as const) {
      it(`renders ${name} for ${arch} exactly`, () => {
        const out = renderScript(ProfileSpec.parse(raw), ctx(arch));
        const file = new URL(`${name}.${arch}.ipxe`, GOLDEN);
        if (process.env.UPDATE_GOLDEN) writeFileSync(file, out);
        expect(out).toBe(readFileSync(file, 'utf8'));
      });
    }
  }
});

describe('renderScript semantics', () => {
  const linux = ProfileSpec.parse(specs.linux);

  it('names each initrd on the UEFI kernel line and not under BIOS', () => {
    const uefi = renderScript(linux, ctx('uefi-x64'));
    const bios = renderScript(linux, ctx('bios'));
    expect(uefi).toMatch(/^kernel --name vmlinuz \S+ .* initrd=initrd0 initrd=initrd1 \|\| goto wait1$/m);
    expect(bios).not.toContain('initrd=initrd0');
  });

  it('boots the local disk with sanboot under BIOS and exit under UEFI', () => {
    expect(renderScript({ kind: 'local' }, ctx('bios'))).toContain('sanboot --no-describe --drive 0x80');
    expect(renderScript({ kind: 'local' }, ctx('uefi-x64'))).toMatch(/\nexit\n$/);
  });

  it('retries downloads and ends at the local disk instead of hanging', () => {
    const out = renderScript(linux, ctx('bios', { attempts: 3 }));
    expect(out.match(/^kernel /gm)).toHaveLength(3);
    expect(out).toMatch(/:fallback\n.*\nsleep 3\nsanboot --no-describe --drive 0x80\n$/);
  });

  it('defaults the menu to the local disk and times out in milliseconds', () => {
    const out = renderScript(ProfileSpec.parse(specs.menu), ctx('bios'));
    expect(out).toContain('choose --timeout 10000 --default local target || goto local');
  });
});

describe('injection', () => {
  const attacks = [
    'x\nshell',
    'x\r\nshell',
    'x ||shell',
    'x && shell',
    '${net0/ip}',
    '$x',
    '#!ipxe',
    'a b',
    'a\tb',
    'a;b',
    'a"b',
    "a'b",
    'a\\b',
    'a{b}',
    '\u0000',
    'é',
  ];

  it.each(attacks)('refuses a hostname of %j in a command line', (hostname) => {
    const spec = ProfileSpec.parse(specs.linux);
    expect(() => renderScript(spec, ctx('bios', { vars: { ...ctx('bios').vars, hostname } }))).toThrow(RenderError);
  });

  it.each(attacks)('refuses a label value of %j in an ipxe template', (value) => {
    const spec = ProfileSpec.parse({ kind: 'ipxe', script: 'echo {{label.rack}}' });
    expect(() => renderScript(spec, ctx('bios', { vars: { labels: { rack: value } } }))).toThrow(RenderError);
  });

  it('refuses a URL with unsafe characters', () => {
    const spec = ProfileSpec.parse(specs.linux);
    expect(() => renderScript(spec, ctx('bios', { fileUrl: () => 'http://x/${a}' }))).toThrow(RenderError);
    expect(() => renderScript(spec, ctx('bios', { fileUrl: () => 'http://x/a b' }))).toThrow(RenderError);
    expect(() => renderScript(spec, ctx('bios', { fileUrl: () => 'file:///etc/passwd' }))).toThrow(RenderError);
  });

  it('refuses menu texts iPXE would interpret, at the schema and in the renderer', () => {
    const bad = { kind: 'menu', title: 'x || shell', items: [] };
    expect(ProfileSpec.safeParse(bad).success).toBe(false);
    expect(() => renderScript(bad as never, ctx('bios'))).toThrow(RenderError);
  });

  it('refuses a multi-line kernel command line in the schema', () => {
    expect(ProfileSpec.safeParse({ kind: 'linux', kernel: 'img_k', cmdline: 'a\nshell' }).success).toBe(false);
  });

  it('reports unknown template variables so profiles can be checked when saved', () => {
    expect(unknownTemplateVariables('{{mac}} {{label.rack}} {{hostnme}} {{ secret }}')).toEqual(['hostnme', 'secret']);
    expect(() => renderTemplate('{{nope}}', {})).toThrow(RenderError);
  });

  it('renders missing values as empty, not as "null"', () => {
    expect(renderTemplate('h={{hostname}}', { hostname: null })).toBe('h=');
  });
});
