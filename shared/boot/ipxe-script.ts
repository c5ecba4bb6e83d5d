import type { Arch } from '../schemas/common.ts';
import type { ProfileSpec } from '../schemas/profile.ts';
import { isUefi } from './arch.ts';

/**
 * iPXE scripts for each profile kind. Pure: URLs come from the caller (signed cloud URLs or relay
 * URLs), so the same renderer serves both chaining modes and is tested with golden files.
 *
 * Safety: every machine-derived value that reaches a script goes through `renderTemplate`, which
 * only lets through characters that mean nothing to iPXE's parser: no whitespace (argument split),
 * no newline (new command), no `$`/`{`/`}` (setting expansion), no `#`, quotes, `;` or backslash.
 * A value outside that set does not get escaped — it stops the render (fail closed).
 */

export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}

/** Characters a substituted value may contain: enough for hostnames, MACs, UUIDs, URLs, tokens. */
const SAFE_VALUE = /^[A-Za-z0-9._:/?&=%+@,~-]*$/;
const VAR = /\{\{\s*([a-zA-Z][a-zA-Z0-9]*(?:\.[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)?)\s*\}\}/g;

/**
 * Variables a template may use. `label.<key>` reads one label. `filesUrl` is where this boot's
 * answer files are served (`{{filesUrl}}/<name>`; the callback token is part of it, so installers
 * that only take a URL can fetch them).
 */
export const TEMPLATE_VARIABLES = ['mac', 'machineId', 'hostname', 'uuid', 'serial', 'siteId', 'arch', 'callbackUrl', 'callbackToken', 'bootId', 'filesUrl'] as const;
export type TemplateVars = Partial<Record<(typeof TEMPLATE_VARIABLES)[number], string | null>> & { labels?: Record<string, string> };

/** Names a template uses that are not variables: for validating profiles when they are saved. */
export function unknownTemplateVariables(template: string): string[] {
  const bad = new Set<string>();
  for (const m of template.matchAll(VAR)) {
    const name = m[1]!;
    if (!name.startsWith('label.') && !(TEMPLATE_VARIABLES as readonly string[]).includes(name)) bad.add(name);
  }
  return [...bad];
}

/** Substitutes `{{name}}` and `{{label.key}}`; missing values become empty, unsafe ones throw. */
export function renderTemplate(template: string, vars: TemplateVars): string {
  return template.replace(VAR, (_all, name: string) => {
    const value = name.startsWith('label.') ? vars.labels?.[name.slice(6)] : (vars as Record<string, string | null | undefined>)[name];
    if (!name.startsWith('label.') && !(TEMPLATE_VARIABLES as readonly string[]).includes(name)) throw new RenderError(`unknown template variable ${name}`);
    const v = value ?? '';
    if (!SAFE_VALUE.test(v)) throw new RenderError(`the value of ${name} has characters that are not safe in an iPXE script`);
    return v;
  });
}

export interface RenderContext {
  arch: Arch;
  /** For the comment at the top; names are validated to a safe set already. */
  profileName: string;
  mac: string;
  vars: TemplateVars;
  /** URL iPXE fetches an image from (signed or via the relay). */
  fileUrl(imageId: string): string;
  /** URL of the script for a menu choice. */
  chooseUrl(profileId: string): string;
  /** How many times downloads are tried before falling back to the local disk. */
  attempts?: number;
}

/** Boot the first local disk: BIOS hands over to the disk's MBR, UEFI returns to the boot manager. */
export function localBootLines(arch: Arch): string[] {
  return isUefi(arch) ? ['exit'] : ['sanboot --no-describe --drive 0x80'];
}

function header(ctx: RenderContext, kind: string): string[] {
  return ['#!ipxe', `# edgeboot: ${kind} profile "${ctx.profileName}" for ${ctx.mac} (${ctx.arch})`];
}

function checkUrl(url: string): string {
  if (!SAFE_VALUE.test(url) || !/^https?:\/\//.test(url)) throw new RenderError('a URL for the script is not safe for iPXE');
  return url;
}

/**
 * Wraps download-and-boot lines in numbered attempts (iPXE has no loops we can rely on in old
 * builds, so they are unrolled) and ends in the local disk, so a failed download never leaves the
 * machine hanging at a prompt.
 */
function withRetries(ctx: RenderContext, what: string, lines: string[]): string[] {
  const n = Math.max(1, Math.min(ctx.attempts ?? 3, 5));
  const out: string[] = [];
  for (let i = 1; i <= n; i++) {
    const next = i < n ? `try${i + 1}` : 'fallback';
    out.push(`:try${i}`, 'imgfree', ...lines.map((l) => `${l} || goto ${next === 'fallback' ? 'fallback' : `wait${i}`}`));
    if (i < n) out.push(`:wait${i}`, `echo edgeboot: could not ${what} (try ${i} of ${n}), retrying`, `sleep ${i * 2}`);
  }
  out.push(':fallback', `echo edgeboot: could not ${what}, booting the local disk`, 'sleep 3', ...localBootLines(ctx.arch));
  return out;
}

/**
 * `kernel`, named `initrd`s and `boot`, with retries. Under UEFI, iPXE hands initrds to the kernel's
 * EFI stub only when the command line names them.
 */
function kernelBoot(ctx: RenderContext, what: string, kernel: string, initrds: readonly string[], cmdlines: string[]): string[] {
  const names = initrds.map((_, i) => `initrd${i}`);
  const args = [...cmdlines, ...(isUefi(ctx.arch) ? names.map((n) => `initrd=${n}`) : [])].filter((s) => s !== '').join(' ');
  return withRetries(ctx, what, [
    `kernel --name vmlinuz ${checkUrl(ctx.fileUrl(kernel))}${args ? ` ${args}` : ''}`,
    ...initrds.map((id, i) => `initrd --name ${names[i]} ${checkUrl(ctx.fileUrl(id))}`),
    'boot',
  ]);
}

function cmdline(template: string, ctx: RenderContext): string {
  const rendered = renderTemplate(template, ctx.vars);
  if (/[\r\n]/.test(rendered)) throw new RenderError('a kernel command line must be one line');
  return rendered.trim();
}

/** The full script for a profile. Throws RenderError when it cannot be rendered safely. */
export function renderScript(spec: ProfileSpec, ctx: RenderContext): string {
  let lines: string[];
  switch (spec.kind) {
    case 'linux':
      lines = [...header(ctx, 'linux'), ...kernelBoot(ctx, 'download the kernel and initrd', spec.kernel, spec.initrds, [cmdline(spec.cmdline, ctx)])];
      break;
    case 'wimboot':
      lines = [
        ...header(ctx, 'wimboot'),
        ...withRetries(ctx, 'download wimboot and the Windows PE files', [
          `kernel --name wimboot ${checkUrl(ctx.fileUrl(spec.wimboot))}`,
          `initrd --name BCD ${checkUrl(ctx.fileUrl(spec.bcd))}`,
          `initrd --name boot.sdi ${checkUrl(ctx.fileUrl(spec.bootSdi))}`,
          `initrd --name boot.wim ${checkUrl(ctx.fileUrl(spec.bootWim))}`,
          // wimboot copies every further initrd, by its name, into X:\Windows\System32 of WinPE.
          ...answerFileUrls(spec.files, ctx).map(({ name, url }) => `initrd --name ${name} ${url}`),
          'boot',
        ]),
      ];
      break;
    case 'local':
      lines = [...header(ctx, 'local'), ...localBootLines(ctx.arch)];
      break;
    case 'menu': {
      const def = spec.defaultItem !== null && spec.defaultItem < spec.items.length ? `p${spec.defaultItem}` : 'local';
      lines = [
        ...header(ctx, 'menu'),
        `menu ${menuText(spec.title)}`,
        ...spec.items.map((it, i) => `item p${i} ${menuText(it.label)}`),
        'item --gap',
        'item local Boot from local disk',
        // iPXE's `choose --timeout` is in milliseconds; 0 waits for a key.
        `choose --timeout ${spec.timeoutSeconds * 1000} --default ${def} target || goto local`,
        'goto ${target}',
        ...spec.items.flatMap((it, i) => [`:p${i}`, `chain ${checkUrl(ctx.chooseUrl(it.profileId))} || goto local`]),
        ':local',
        ...localBootLines(ctx.arch),
      ];
      break;
    }
    case 'ipxe': {
      const body = renderTemplate(spec.script.replace(/^#!ipxe[^\n]*\n?/, ''), ctx.vars);
      lines = [...header(ctx, 'ipxe'), body.trimEnd()];
      break;
    }
    case 'imaging':
      // The imager finds its job with the callback token: without one there is nothing to image.
      if (!ctx.vars.callbackUrl || !ctx.vars.callbackToken) throw new RenderError('an imaging boot needs a callback URL and token');
      lines = [
        ...header(ctx, 'imaging'),
        ...kernelBoot(ctx, 'download the edgeboot imager', spec.kernel, spec.initrds, [
          cmdline('edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}} edgeboot.mac={{mac}}', ctx),
          cmdline(spec.cmdline, ctx),
        ]),
      ];
      break;
  }
  return `${lines.join('\n')}\n`;
}

/** The URLs wimboot fetches a profile's answer files from (served by the callback routes). */
function answerFileUrls(files: readonly { name: string }[] | undefined, ctx: RenderContext): { name: string; url: string }[] {
  if (!files || files.length === 0) return [];
  if (!ctx.vars.filesUrl) throw new RenderError('answer files need a callback URL and token');
  return files.map((f) => ({ name: f.name, url: checkUrl(`${renderTemplate('{{filesUrl}}', ctx.vars)}/${f.name}`) }));
}

/**
 * Menu titles and item texts are written by admins, but `||`, `&&`, `$` or a newline in them would
 * still be read by iPXE as script: only plain text passes.
 */
export const SAFE_TEXT = /^[A-Za-z0-9 ._:+@()\/,-]*$/;

function menuText(text: string): string {
  if (!SAFE_TEXT.test(text)) throw new RenderError('a menu text has characters iPXE would interpret');
  return text;
}
