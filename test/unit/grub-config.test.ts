import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grubUrl, localGrubConfig, quote, renderGrubConfig, type GrubRenderContext } from '../../shared/boot/grub-config.ts';
import { RenderError } from '../../shared/boot/ipxe-script.ts';
import { ProfileSpec } from '../../shared/schemas/profile.ts';
import { renderContext } from './support/render-context.ts';

/** Golden files: `UPDATE_GOLDEN=1 npm exec -- vitest run test/unit/grub-config.test.ts` rewrites them. */
const GOLDEN = new URL('../golden/grub/', import.meta.url);

function ctx(over: Partial<GrubRenderContext> = {}): GrubRenderContext {
  return {
    ...renderContext('uefi-x64'),
    chooseUrl: (id) => `http://10.0.0.2:8080/grub/choose/${id}`,
    reportUrl: (what) => `http://10.0.0.2:8080/grub/report/${what}`,
    ...over,
  };
}

const chain = { shim: 'img_shim', grub: 'img_grub' };
const specs: Record<string, unknown> = {
  linux: {
    kind: 'linux',
    ...chain,
    kernel: 'img_kernel',
    initrds: ['img_initrd', 'img_firmware'],
    cmdline: 'console=ttyS0 hostname={{hostname}} rack={{label.rack}} edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}}',
  },
  local: { kind: 'local' },
  menu: {
    kind: 'menu',
    ...chain,
    title: 'Lyon provisioning',
    timeoutSeconds: 10,
    items: [
      { label: 'Debian 13 installer', profileId: 'prf_debian' },
      { label: 'Rescue (x86)', profileId: 'prf_rescue' },
    ],
    defaultItem: 1,
  },
  imaging: { kind: 'imaging', ...chain, kernel: 'img_imager', initrds: ['img_imagerfs'], diskImage: 'img_disk', cmdline: 'console=ttyS0' },
};

describe('GRUB configurations (golden)', () => {
  for (const [name, raw] of Object.entries(specs)) {
    it(`renders the ${name} profile as its golden file`, () => {
      const out = renderGrubConfig(ProfileSpec.parse(raw), ctx());
      const file = new URL(`${name}.cfg`, GOLDEN);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, out);
      expect(out).toBe(readFileSync(file, 'utf8'));
    });
  }

  it('loads the kernel and every initrd from the relay over HTTP in GRUB device syntax, single-quoted', () => {
    const out = renderGrubConfig(ProfileSpec.parse(specs.linux), ctx());
    expect(out).toContain(`linux '(http,10.0.0.2:8080)/v1/files/img_kernel?sig=v1.k1.1800000000.site_x.${'A'.repeat(43)}' 'console=ttyS0' 'hostname=node-7.lyon' 'rack=r12'`);
    expect(out).toMatch(/initrd '\(http,10\.0\.0\.2:8080\)\/v1\/files\/img_initrd\?sig=[^']+' '\(http,10\.0\.0\.2:8080\)\/v1\/files\/img_firmware\?sig=[^']+'/);
    // A refused kernel is reported once (after the last try), then GRUB leaves to the firmware.
    expect(out.match(/grub\/report\/kernel-refused/g)).toHaveLength(1);
    expect(out.trimEnd().endsWith('exit')).toBe(true);
  });

  it('puts the imager arguments on the kernel line of an imaging profile', () => {
    const out = renderGrubConfig(ProfileSpec.parse(specs.imaging), ctx());
    expect(out).toContain("'edgeboot.callback=http://10.0.0.2:8080/v1/callback' 'edgeboot.token=ebc_abcdefghijklmnopqrstuvwxyz012345' 'edgeboot.mac=52:54:00:12:34:56' 'console=ttyS0'");
  });

  it('renders menus as GRUB menu entries that chain to the relay, the default by id, and a local-disk entry', () => {
    const out = renderGrubConfig(ProfileSpec.parse(specs.menu), ctx());
    expect(out).toContain('set default=p1');
    expect(out).toContain("menuentry 'Debian 13 installer' --id p0 {\n  configfile '(http,10.0.0.2:8080)/grub/choose/prf_debian'\n}");
    expect(out).toContain("menuentry 'Boot from local disk' --id local {\n  exit\n}");
    expect(renderGrubConfig(ProfileSpec.parse({ ...(specs.menu as object), timeoutSeconds: 0, defaultItem: null }), ctx())).toContain('set timeout=-1\nset default=local');
  });

  it('refuses the kinds only iPXE can run, with the reason', () => {
    expect(() => renderGrubConfig(ProfileSpec.parse({ kind: 'ipxe', script: 'shell' }), ctx())).toThrow(/only under iPXE/);
    expect(() => renderGrubConfig(ProfileSpec.parse({ kind: 'wimboot', wimboot: 'a', bcd: 'b', bootSdi: 'c', bootWim: 'd' }), ctx())).toThrow(/only under iPXE/);
  });

  it('leaves to the firmware for the local disk', () => {
    expect(localGrubConfig('uefi-x64', '52:54:00:12:34:56')).toBe('# edgeboot: local disk for 52:54:00:12:34:56 (uefi-x64)\nexit\n');
  });
});

describe('GRUB injection', () => {
  // The iPXE renderer's attack strings, and GRUB's own metacharacters and globs.
  const attacks = ['x\nreboot', 'x\r\nreboot', 'x ||reboot', 'x && reboot', '${prefix}', '$x', 'a b', 'a\tb', 'a;b', 'a"b', "a'b", 'a\\b', 'a{b}', '\u0000', 'é', "'; reboot; '", 'a|b', 'a<b', 'a>b', 'a*b', 'a[b]'];

  it.each(attacks)('refuses a hostname of %j in a command line', (hostname) => {
    const spec = ProfileSpec.parse(specs.linux);
    expect(() => renderGrubConfig(spec, ctx({ vars: { ...ctx().vars, hostname } }))).toThrow(RenderError);
  });

  it.each(attacks)('refuses a label value of %j', (rack) => {
    const spec = ProfileSpec.parse(specs.linux);
    expect(() => renderGrubConfig(spec, ctx({ vars: { ...ctx().vars, labels: { rack } } }))).toThrow(RenderError);
  });

  it('keeps an administrator\'s $, ; and globs on the command line literal (single quotes), and refuses a quote', () => {
    const out = renderGrubConfig(ProfileSpec.parse({ ...(specs.linux as object), cmdline: 'a=$root;reboot b=* c=[x]' }), ctx());
    expect(out).toContain("'a=$root;reboot' 'b=*' 'c=[x]'");
    expect(() => renderGrubConfig(ProfileSpec.parse({ ...(specs.linux as object), cmdline: "a='b" }), ctx())).toThrow(RenderError);
  });

  it('refuses URLs that are not plain http to a host', () => {
    const spec = ProfileSpec.parse(specs.linux);
    for (const url of ['https://10.0.0.2/x', 'file:///etc/passwd', "http://10.0.0.2/a'b", 'http://10.0.0.2/a b', 'http://user@10.0.0.2/x']) {
      expect(() => renderGrubConfig(spec, ctx({ fileUrl: () => url })), url).toThrow(RenderError);
    }
  });

  it('writes GRUB device syntax and quotes words', () => {
    expect(grubUrl('http://10.0.0.2:8080/files/a')).toBe('(http,10.0.0.2:8080)/files/a');
    expect(grubUrl('http://relay.lyon/files/a')).toBe('(http,relay.lyon)/files/a');
    expect(quote('a$b;c')).toBe("'a$b;c'");
    expect(() => quote('a\nb')).toThrow(RenderError);
  });
});
