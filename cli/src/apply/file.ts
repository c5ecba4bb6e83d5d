/**
 * The fleet file of `edgeboot apply -f`: sites, profiles, machines and assignments as YAML (or
 * JSON), everything named by name (images, profiles, sites) or MAC, never by server ids, so the
 * file can live in git and be applied to any control plane.
 *
 * Validation uses zod (the API's own field schemas) and reports each problem with the file's line
 * and column, found by walking the YAML document along the issue's path.
 */
import { isMap, isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { bmcAddressProblem, BmcUsername, RedfishSystemId, TlsFingerprint } from '../../../shared/schemas/bmc.ts';
import { Arch, Description, Hostname, Labels, Mac, Name, Serial, SmbiosUuid } from '../../../shared/schemas/common.ts';
import { ProfileSpec } from '../../../shared/schemas/profile.ts';
import { CliError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';

/** A profile, site or image named by its name (or, where it exists already, its id). */
const Ref = z.string().min(1).max(64);

export const FleetSite = z.strictObject({
  name: Name,
  description: Description.optional(),
  defaultProfile: Ref.nullable().optional().meta({ description: 'what unknown machines of the site boot; null = their local disk' }),
});

export const FleetProfile = z.strictObject({
  name: Name,
  description: Description.optional(),
  /** The API's ProfileSpec; images (kernel, initrds, …) and menu items' profileId by name or id. */
  spec: ProfileSpec,
});

/**
 * A machine's BMC. The password is never in the file: it is read at apply time from an environment
 * variable or a file (relative to the fleet file) and sealed to the site's relays as
 * `machines bmc set` does. `bmc: null` forgets the machine's BMC.
 */
export const FleetBmc = z
  .strictObject({
    ipmi: z.string().min(1).max(256).optional().meta({ description: 'IPMI v2.0 over LAN: host or host:port' }),
    redfish: z.string().min(1).max(256).optional().meta({ description: 'Redfish: the BMC URL, e.g. https://10.0.5.21' }),
    user: BmcUsername,
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name').optional(),
    passwordFile: z.string().min(1).max(4096).optional(),
    systemId: RedfishSystemId.optional(),
    tlsFingerprint: TlsFingerprint.optional(),
    /** Only so that a password written here gets its own message instead of "unrecognized key". */
    password: z.unknown().optional(),
  })
  .superRefine((b, ctx) => {
    if (b.password !== undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'a BMC password never goes in the fleet file: name it with passwordEnv or passwordFile' });
    if ((b.ipmi === undefined) === (b.redfish === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of ipmi (an address) or redfish (a URL)' });
    if ((b.passwordEnv === undefined) === (b.passwordFile === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of passwordEnv or passwordFile' });
    const problem = b.ipmi !== undefined ? bmcAddressProblem('ipmi', b.ipmi) : b.redfish !== undefined ? bmcAddressProblem('redfish', b.redfish) : null;
    if (problem) ctx.addIssue({ code: 'custom', path: [b.ipmi !== undefined ? 'ipmi' : 'redfish'], message: problem });
    if (b.ipmi !== undefined && (b.systemId !== undefined || b.tlsFingerprint !== undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'systemId and tlsFingerprint are for Redfish' });
  });
export type FleetBmc = z.infer<typeof FleetBmc>;

export const FleetMachine = z.strictObject({
  mac: Mac,
  site: Ref.nullable().optional(),
  hostname: Hostname.nullable().optional(),
  labels: Labels.optional(),
  arch: Arch.nullable().optional(),
  uuid: SmbiosUuid.nullable().optional(),
  serial: Serial.nullable().optional(),
  secureBoot: z.boolean().nullable().optional().meta({ description: 'Secure Boot on (true), off (false) or unknown (null)' }),
  bmc: FleetBmc.nullable().optional(),
});

export const FleetSelector = z
  .strictObject({ mac: Mac.optional(), site: Ref.optional(), labels: Labels.optional(), arch: Arch.optional() })
  .refine((s) => Object.values(s).some((v) => v !== undefined), 'a selector needs at least one of mac, site, labels, arch');

export const FleetAssignment = z.strictObject({
  profile: Ref,
  selector: FleetSelector,
  once: z.boolean().default(false),
  priority: z.number().int().min(-1000).max(1000).default(0),
});

export const Fleet = z
  .strictObject({
    sites: z.array(FleetSite).optional(),
    profiles: z.array(FleetProfile).optional(),
    machines: z.array(FleetMachine).optional(),
    assignments: z.array(FleetAssignment).optional(),
  })
  .superRefine((f, ctx) => {
    const unique = <T>(section: string, items: readonly T[] | undefined, key: (x: T) => string, what: string) => {
      const seen = new Map<string, number>();
      items?.forEach((x, i) => {
        const k = key(x);
        const first = seen.get(k);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [section, i], message: `${what} ${k} is already defined at ${section}[${first}]` });
        else seen.set(k, i);
      });
    };
    unique('sites', f.sites, (s) => s.name, 'site');
    unique('profiles', f.profiles, (p) => p.name, 'profile');
    unique('machines', f.machines, (m) => m.mac, 'machine');
    unique('assignments', f.assignments, (a) => selectorKey(a.selector), 'an assignment for selector');
  });
export type Fleet = z.infer<typeof Fleet>;
export type FleetSelector = z.infer<typeof FleetSelector>;

/** One string per selector, the same for equal selectors whatever the key or label order. */
export function selectorKey(s: { mac?: string; site?: string; labels?: Record<string, string>; arch?: string; machineId?: string }): string {
  const parts: string[] = [];
  if (s.machineId) parts.push(`machine=${s.machineId}`);
  if (s.mac) parts.push(`mac=${s.mac}`);
  if (s.site) parts.push(`site=${s.site}`);
  for (const [k, v] of Object.entries(s.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) parts.push(`label:${k}=${v}`);
  if (s.arch) parts.push(`arch=${s.arch}`);
  return parts.join(' ');
}

export type Path = readonly (string | number)[];

export interface LoadedFleet {
  fleet: Fleet;
  /** "fleet.yaml:12:7" for a path into the document (its nearest existing part); `onKey`: the key, not its value. */
  locate(path: Path, onKey?: boolean): string;
}

/** `sites[0].defaultProfile` */
export function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top)';
}

export function parseFleet(text: string, fileName: string): LoadedFleet {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return `${fileName}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new CliError(EXIT.USAGE, `${fileName} is not valid YAML`, {
      details: doc.errors.slice(0, 10).map((e) => `  ${at(e.pos[0])}: ${e.message.split('\n')[0]}`),
    });
  }
  const locate = (path: Path, onKey = false) => at(offsetOf(doc, path, onKey));
  const data = doc.toJS() ?? {};
  const r = Fleet.safeParse(data);
  if (!r.success) {
    throw new CliError(EXIT.USAGE, `${fileName}: ${r.error.issues.length} problem(s)`, {
      details: r.error.issues.slice(0, 30).map((i) => {
        // An unknown key is reported on its object, a bad record key on the record: point at the key itself.
        const extra = i as { keys?: string[]; issues?: { message: string }[] };
        if (i.code === 'unrecognized_keys' && extra.keys?.length) return `  ${locate([...i.path, extra.keys[0]!] as Path, true)}: ${formatPath(i.path as Path)}: ${i.message}`;
        if (i.code === 'invalid_key') return `  ${locate(i.path as Path, true)}: ${formatPath(i.path as Path)}: key ${JSON.stringify(i.path.at(-1))}: ${extra.issues?.[0]?.message ?? i.message}`;
        return `  ${locate(i.path as Path)}: ${formatPath(i.path as Path)}: ${i.message}`;
      }),
      hint: 'see `edgeboot apply --help` for the file format',
    });
  }
  return { fleet: r.data, locate };
}

/** Where in the text the node at `path` starts; its nearest existing ancestor if it is missing. */
function offsetOf(doc: Document, path: Path, onKey: boolean): number {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node = sub.length === 0 ? doc.contents : doc.getIn(sub, true);
    if (onKey && n === path.length && n > 0) {
      const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isNode(it.key) && (it.key as { value?: unknown }).value === path[n - 1]);
        if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
      }
    }
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}
