/**
 * Parsers for option values, used as commander argument parsers: a bad value is a usage error
 * (exit 2) that names the option, before anything is sent to the API.
 */
import { InvalidArgumentError } from 'commander';
import { normalizeMac } from '../../shared/mac.ts';
import { Arch, LabelKey, LabelValue } from '../../shared/schemas/common.ts';

export function parseMac(value: string): string {
  const mac = normalizeMac(value);
  if (!mac) throw new InvalidArgumentError('not a MAC address (e.g. 52:54:00:12:34:56)');
  return mac;
}

export function parseInteger(min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('not a whole number');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be from ${min} to ${max}`);
    return n;
  };
}

/** `rack=r12` → ['rack', 'r12'], checked like the API checks stored labels. */
export function parseLabel(value: string): [string, string] {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('expected key=value, e.g. rack=r12');
  const key = value.slice(0, at);
  const v = value.slice(at + 1);
  const k = LabelKey.safeParse(key);
  if (!k.success) throw new InvalidArgumentError(`label key ${JSON.stringify(key)}: ${k.error.issues[0]!.message}`);
  const vv = LabelValue.safeParse(v);
  if (!vv.success) throw new InvalidArgumentError(`label value ${JSON.stringify(v)}: ${vv.error.issues[0]!.message}`);
  return [key, v];
}

/** Collects a repeatable `--label k=v` into a record. */
export function collectLabel(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const [k, v] = parseLabel(value);
  return { ...previous, [k]: v };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * The names people use for a CPU, mapped to the firmware edgeboot decides for. An x86-64 server of
 * today netboots through UEFI, so `x86_64` means `uefi-x64`; a BIOS machine is named `bios`, and
 * 32-bit UEFI is rare enough to be named by its own word only.
 */
export const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  x86_64: 'uefi-x64',
  amd64: 'uefi-x64',
  x64: 'uefi-x64',
  arm64: 'uefi-arm64',
  aarch64: 'uefi-arm64',
};

/** "one of bios, …, uefi-arm64 (x86_64, amd64 and x64 mean uefi-x64; …)". */
export function acceptedArchs(): string {
  const byArch = new Map<Arch, string[]>();
  for (const [alias, arch] of Object.entries(ARCH_ALIASES)) byArch.set(arch, [...(byArch.get(arch) ?? []), alias]);
  const aliases = [...byArch].map(([arch, names]) => `${names.slice(0, -1).join(', ')}${names.length > 1 ? ' and ' : ''}${names.at(-1)} mean ${arch}`);
  return `one of ${Arch.options.join(', ')} (${aliases.join('; ')})`;
}

export function parseArch(value: string): Arch {
  const r = Arch.safeParse(value.toLowerCase());
  if (r.success) return r.data;
  const alias = ARCH_ALIASES[value.toLowerCase()];
  if (alias) return alias;
  throw new InvalidArgumentError(acceptedArchs());
}

export type OnOffUnknown = 'on' | 'off' | 'unknown';

/**
 * `on` / `off` / `unknown` (Secure Boot as the firmware has it, or not known). Kept as a word here:
 * commander turns an option parser's null into an empty string; {@link onOffValue} maps it for the API.
 */
export function parseOnOffUnknown(value: string): OnOffUnknown {
  const v = value.trim().toLowerCase();
  if (v === 'on' || v === 'off' || v === 'unknown') return v;
  throw new InvalidArgumentError('one of on, off, unknown');
}

/** The API's value for a parsed `on` / `off` / `unknown`: true / false / null (undefined when not given). */
export const onOffValue = (v: OnOffUnknown | undefined): boolean | null | undefined => (v === undefined ? undefined : v === 'unknown' ? null : v === 'on');

/** What a Secure Boot flag reads as. */
export const onOffUnknown = (v: boolean | null | undefined): string => (v === true ? 'on' : v === false ? 'off' : 'unknown');

export function oneOf<T extends string>(options: readonly T[]) {
  return (value: string): T => {
    if (!(options as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${options.join(', ')}`);
    return value as T;
  };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "90s", "15m", "2h", "30d", "1w", or plain seconds → seconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('a duration such as 90s, 15m, 2h, 30d or 1w');
  return Number(m[1]) * UNIT_SECONDS[m[2] || 's']!;
}

/** An RFC 3339 time, or a duration back from now ("2h" = two hours ago), as the API's ISO string. */
export function parseSince(now: () => number) {
  return (value: string): string => {
    if (/^\d+[smhdw]$/.test(value.trim())) return new Date(now() - parseDuration(value) * 1000).toISOString();
    const t = Date.parse(value);
    if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new InvalidArgumentError('a time (2025-03-01T12:00:00Z) or a duration back from now (2h, 7d)');
    return new Date(t).toISOString();
  };
}

/** "64", "64MiB", "64M", "1GiB", "5242880B" → bytes; plain numbers are MiB (the unit part sizes are thought in). */
export function parseSize(value: string): number {
  const m = /^(\d+)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('a size such as 64 (MiB), 64MiB or 1GiB');
  const unit = (m[2] ?? 'm').toLowerCase()[0]!;
  return Number(m[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]!;
}

/**
 * Memory for inventory filters: "32GiB", "32G", "32GB", "512MiB", "1TiB"; a plain number is GiB.
 * GB and MB count as GiB and MiB, as they do on memory modules and in firmware setup screens.
 */
export function parseMemory(value: string): number {
  const m = /^(\d+)\s*(m|mb|mib|g|gb|gib|t|tb|tib)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('a memory size such as 32GiB, 512MiB or 1TiB (a plain number is GiB)');
  const unit = (m[2] ?? 'g').toLowerCase()[0]!;
  return Number(m[1]) * { m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit]!;
}
