import type { Arch } from '../schemas/common.ts';
import type { ProfileSpec } from '../schemas/profile.ts';
import { RenderError, renderTemplate, SAFE_TEXT, type RenderContext } from './ipxe-script.ts';

/**
 * GRUB configurations for the signed UEFI x64 chain (firmware → shim → GRUB → kernel), rendered from
 * the same decision as iPXE scripts. Pure, like ipxe-script.ts: URLs come from the caller.
 *
 * GRUB is reached only through the relay (Debian's network GRUB has no HTTPS), so every URL is an
 * `http://host[:port]/path` that becomes GRUB's `(http,host:port)/path`.
 *
 * Safety: GRUB's script language expands `$`, splits on blanks, and reads `;`, `|`, `&`, `<`, `>` and
 * newlines as syntax, and Debian's GRUB may expand `*`, `?` and `[` as file globs. Every word this
 * renderer writes from a profile or a machine is therefore single-quoted — inside single quotes GRUB
 * takes every character literally, with no expansion — and a word that itself contains a single quote
 * (or a control character) stops the render (fail closed). Machine-supplied values pass the same
 * `renderTemplate` character check as in iPXE scripts before that.
 */

/** What GRUB does when a download or load fails: report it to the relay (best effort), then leave to the firmware. */
export type GrubFailure = 'kernel-refused' | 'initrd-failed';
export const GRUB_FAILURES: readonly GrubFailure[] = ['kernel-refused', 'initrd-failed'];

export interface GrubRenderContext extends RenderContext {
  /**
   * The URL GRUB fetches (and discards) to say why it gave up: the relay turns it into a timeline
   * stage. Optional: without it failures are only printed.
   */
  reportUrl?(what: GrubFailure): string;
}

/** `http://host[:port]/path` → `(http,host:port)/path`, GRUB's device syntax for its HTTP client. */
export function grubUrl(url: string): string {
  const m = /^http:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(\/[^\s']*)$/.exec(url);
  if (!m) throw new RenderError('GRUB loads over plain HTTP from the relay: a URL for it must be http://host[:port]/path');
  return `(http,${m[1]}${m[2] ? `:${m[2]}` : ''})${m[3]}`;
}

/** One single-quoted GRUB word; nothing inside is interpreted. */
export function quote(word: string): string {
  // eslint-disable-next-line no-control-regex
  if (/['\u0000-\u001f\u007f]/.test(word)) throw new RenderError('a value for GRUB has a quote or a control character');
  return `'${word}'`;
}

function header(ctx: RenderContext, kind: string): string[] {
  return [`# edgeboot: ${kind} profile "${ctx.profileName}" for ${ctx.mac} (${ctx.arch}), GRUB under shim`, 'set timeout=0'];
}

/** Leave GRUB: the firmware's boot manager goes on with the next boot option (the local disk). */
export function grubLocalLines(): string[] {
  return ['exit'];
}

function say(text: string): string {
  if (!SAFE_TEXT.test(text)) throw new RenderError('a message for GRUB has characters it would interpret');
  return `echo ${quote(`edgeboot: ${text}`)}`;
}

function report(ctx: GrubRenderContext, what: GrubFailure): string[] {
  // `cat` of the report URL makes GRUB issue one GET; its (empty) answer is printed and forgotten.
  return ctx.reportUrl ? [`cat ${quote(grubUrl(ctx.reportUrl(what)))}`] : [];
}

function words(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter((w) => w !== '').map(quote);
}

function cmdline(template: string, ctx: RenderContext): string {
  const rendered = renderTemplate(template, ctx.vars);
  if (/[\r\n]/.test(rendered)) throw new RenderError('a kernel command line must be one line');
  return rendered.trim();
}

/**
 * Load the kernel and its initrds and boot, tried twice. Under Secure Boot GRUB asks shim to verify
 * the kernel: an untrusted signature makes `linux` fail, which is reported before leaving to the
 * firmware, so the machine never sits at a `grub>` prompt.
 */
function kernelBoot(ctx: GrubRenderContext, what: string, kernel: string, initrds: readonly string[], cmdlines: string[]): string[] {
  const args = cmdlines.filter((s) => s !== '').flatMap(words);
  const linux = ['linux', quote(grubUrl(ctx.fileUrl(kernel))), ...args].join(' ');
  const initrd = initrds.length > 0 ? ['initrd', ...initrds.map((id) => quote(grubUrl(ctx.fileUrl(id))))].join(' ') : null;
  const lines: string[] = [say(`loading ${what}`)];
  const TRIES = 2;
  for (let i = 1; i <= TRIES; i++) {
    // Only the last failure is reported: one timeline stage per boot, not one per try.
    const last = i === TRIES;
    lines.push(
      `if ${linux}; then`,
      ...(initrd ? [`  if ${initrd}; then`, '    boot', '  fi'] : ['  boot']),
      `  ${say(`could not boot the kernel with its initrd (try ${i} of ${TRIES})`)}`,
      ...(last ? report(ctx, 'initrd-failed').map((l) => `  ${l}`) : []),
      'else',
      `  ${say(`could not load the kernel (try ${i} of ${TRIES}): under Secure Boot, a kernel shim does not trust is refused`)}`,
      ...(last ? report(ctx, 'kernel-refused').map((l) => `  ${l}`) : []),
      'fi',
    );
  }
  return [...lines, say('leaving to the firmware (local disk)'), 'sleep 3', ...grubLocalLines()];
}

/** The whole configuration for a profile. Throws RenderError for kinds GRUB cannot boot and for unsafe values. */
export function renderGrubConfig(spec: ProfileSpec, ctx: GrubRenderContext): string {
  let lines: string[];
  switch (spec.kind) {
    case 'linux':
      lines = [...header(ctx, 'linux'), ...kernelBoot(ctx, 'the kernel and initrd', spec.kernel, spec.initrds, [cmdline(spec.cmdline, ctx)])];
      break;
    case 'imaging':
      if (!ctx.vars.callbackUrl || !ctx.vars.callbackToken) throw new RenderError('an imaging boot needs a callback URL and token');
      lines = [
        ...header(ctx, 'imaging'),
        ...kernelBoot(ctx, 'the edgeboot imager', spec.kernel, spec.initrds, [
          cmdline('edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}} edgeboot.mac={{mac}}', ctx),
          cmdline(spec.cmdline, ctx),
        ]),
      ];
      break;
    case 'local':
      lines = [...header(ctx, 'local'), ...grubLocalLines()];
      break;
    case 'menu': {
      const def = spec.defaultItem !== null && spec.defaultItem < spec.items.length ? `p${spec.defaultItem}` : 'local';
      if (!SAFE_TEXT.test(spec.title)) throw new RenderError('a menu text has characters GRUB would interpret');
      lines = [
        `# edgeboot: menu profile "${ctx.profileName}" for ${ctx.mac} (${ctx.arch}), GRUB under shim`,
        // GRUB's timeout is in seconds; -1 waits for a key (iPXE's 0).
        `set timeout=${spec.timeoutSeconds === 0 ? -1 : spec.timeoutSeconds}`,
        `set default=${def}`,
        say(spec.title),
        ...spec.items.flatMap((it, i) => {
          if (!SAFE_TEXT.test(it.label)) throw new RenderError('a menu text has characters GRUB would interpret');
          return [`menuentry ${quote(it.label)} --id p${i} {`, `  configfile ${quote(grubUrl(ctx.chooseUrl(it.profileId)))}`, '}'];
        }),
        `menuentry 'Boot from local disk' --id local {`,
        ...grubLocalLines().map((l) => `  ${l}`),
        '}',
      ];
      break;
    }
    case 'ipxe':
    case 'wimboot':
      throw new RenderError(`a ${spec.kind} profile runs only under iPXE, which Secure Boot firmware refuses: GRUB cannot boot it`);
  }
  return `${lines.join('\n')}\n`;
}

/** The configuration for a machine that boots its local disk. */
export function localGrubConfig(arch: Arch, mac: string, reason?: string): string {
  return [`# edgeboot: local disk for ${mac} (${arch})`, ...(reason && SAFE_TEXT.test(reason) ? [say(reason)] : []), ...grubLocalLines(), ''].join('\n');
}
