import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { BootExplanation } from '../../../shared/schemas/boot.ts';
import { Arch, Mac, Serial, SmbiosUuid } from '../../../shared/schemas/common.ts';
import { Machine } from '../../../shared/schemas/machine.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import { auditOk } from '../audit.ts';
import { assertWrite } from '../auth/principal.ts';
import { verifyBootToken } from '../boot/relay-boot-key.ts';
import { headerSafe, serveBoot, type BootAnswer } from '../boot/serve.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { findMachine, toMachine } from './machine-lookup.ts';
import { explainMachine } from './machine-explain.ts';
import { errorResponses, json, router } from './openapi.ts';

/*
 * Boot scripts, for iPXE, and the people's view of boot decisions.
 *
 *   GET /v1/relay/boot           relay-proxied (relay token; the relay's site decides)
 *   GET /v1/boot/{mac}?sig=      direct, signed by the relay's boot key (see boot/relay-boot-key.ts)
 *   GET /v1/machines/{idOrMac}/explain, POST …/reprovision
 *
 * Menus chain to the same URL plus `&choose=<profileId>`, built on `fileBase` (where iPXE reaches us
 * or the relay), so a relay that serves the script on its LAN must pass `/v1/relay/boot` through.
 */

/** Option 93 as a decimal (RFC 4578: a 16-bit code). */
const ArchCode = z
  .string()
  .regex(/^[0-9]{1,5}$/, 'DHCP option 93 client architecture, a decimal number')
  .transform(Number)
  .refine((n) => n <= 0xffff, 'DHCP option 93 is a 16-bit code');

/**
 * Firmware facts are taken when well-formed and dropped otherwise: iPXE expands a missing `${uuid}`
 * to nothing, and vendors put spaces or placeholders in serials; none of that should stop a boot.
 */
const fact = <T extends z.ZodType<string, string>>(schema: T) =>
  z
    .string()
    .max(256)
    .optional()
    .transform((v) => {
      const r = v === undefined ? undefined : schema.safeParse(v);
      return r?.success ? (r.data as string) : undefined;
    });

/** scheme://host[:port], nothing else: it is pasted into scripts, and iPXE reads it literally. */
const FileBase = z
  .string()
  .max(260)
  .regex(/^https?:\/\/[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$/, 'http(s)://host[:port] with no path, query or user')
  .refine((s) => {
    const port = /:([0-9]+)$/.exec(s.replace(/^https?:\/\//, ''));
    return !port || (Number(port[1]) >= 1 && Number(port[1]) <= 65535);
  }, 'port out of range')
  .meta({ description: 'base URL iPXE uses for files and callbacks (the relay on the LAN, or the cloud); default: this request\'s origin' });

const Choose = z.string().regex(/^prf_[0-9a-z]{26}$/, 'a profile id').meta({ description: 'a menu item this machine was offered' });

const Facts = {
  arch: ArchCode.optional().meta({ description: 'DHCP option 93 client architecture (0 BIOS, 7/9 x64 UEFI, …)' }),
  uuid: fact(SmbiosUuid),
  serial: fact(Serial),
  choose: Choose.optional(),
};

const RelayBootQuery = z.strictObject({
  mac: Mac,
  fileBase: FileBase.optional(),
  format: z.enum(['ipxe', 'grub']).default('ipxe').meta({ description: 'ipxe: an iPXE script; grub: a GRUB configuration (the signed UEFI x64 chain, shim → GRUB)' }),
  ...Facts,
});
const DirectBootQuery = z.strictObject({ sig: z.string().min(1).max(256).meta({ description: 'token signed by the relay' }), ...Facts });

const script = {
  description: 'iPXE script; x-edgeboot-decision: boot|menu|local, x-edgeboot-reason says why',
  content: { 'text/plain': { schema: z.string() } },
} as const;

function originOf(c: Context<AppEnv>): string {
  return new URL(c.req.url).origin;
}

/** The request URL on `base`, without `choose`: menus append their choice to it. */
function chooseBase(c: Context<AppEnv>, base: string): string {
  const u = new URL(c.req.url);
  u.searchParams.delete('choose');
  return `${base}${u.pathname}?${u.searchParams.toString()}`;
}

function scriptResponse(c: Context<AppEnv>, a: BootAnswer) {
  return c.text(a.script, 200, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-edgeboot-decision': a.decision,
    'x-edgeboot-reason': headerSafe(a.reason),
  });
}

const MachineParams = z.object({ idOrMac: z.string().min(1).max(64) });
const tags = ['boot'];

/** GET /v1/relay/boot: the relay proxies iPXE's request with its own token. Mounted at /v1/relay. */
export function relayBootRoutes() {
  return router().openapi(
    createRoute({
      method: 'get',
      path: '/boot',
      tags,
      summary: "The iPXE script for a machine booting at the relay's site (relay token)",
      request: { query: RelayBootQuery },
      responses: { 200: script, ...errorResponses },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal')!;
      const siteId = p.siteIds?.[0];
      if (p.role !== 'relay' || !siteId) throw new AppError('forbidden', 'this needs a relay token');
      const fileBase = q.fileBase ?? originOf(c);
      const answer = await serveBoot(c.get('deps'), {
        mac: q.mac,
        siteId,
        relayId: p.relayId,
        archCode: q.arch,
        uuid: q.uuid,
        serial: q.serial,
        fileBase,
        chooseBase: chooseBase(c, fileBase),
        choose: q.choose,
        format: q.format,
      });
      return scriptResponse(c, answer);
    },
  );
}

/** GET /v1/boot/{mac}?sig=: iPXE asks the cloud directly with a relay-signed URL. Mounted at /v1/boot. */
export function directBootRoutes() {
  return router().openapi(
    createRoute({
      method: 'get',
      path: '/{mac}',
      tags,
      summary: 'The iPXE script for a machine, with a URL signed by its site relay (no bearer token)',
      security: [],
      request: { params: z.object({ mac: z.string().min(1).max(40) }), query: DirectBootQuery },
      responses: { 200: script, ...errorResponses },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const mac = normalizeMac(c.req.valid('param').mac);
      if (mac === null) throw new AppError('validation_failed', 'not a MAC address', { issues: [{ path: 'mac', message: 'not a MAC address' }] });
      const { db, clock } = c.get('deps');
      const relay = await verifyBootToken(db, q.sig, c.req.path, clock.now());
      const base = originOf(c);
      const answer = await serveBoot(c.get('deps'), {
        mac,
        siteId: relay.siteId,
        relayId: relay.relayId,
        archCode: q.arch,
        uuid: q.uuid,
        serial: q.serial,
        fileBase: base,
        chooseBase: chooseBase(c, base),
        choose: q.choose,
      });
      return scriptResponse(c, answer);
    },
  );
}

/** Explain and re-provision. Mounted at /v1/machines, beside routes/machines.ts. */
export function machineBootRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}/explain',
        tags: ['machines'],
        summary: 'What this machine (or a MAC before its first boot) would boot now, and why (changes nothing)',
        request: {
          params: MachineParams,
          query: z.strictObject({
            arch: Arch.optional().meta({ description: "decide for this architecture; default: the machine's recorded one" }),
            site: z
              .string()
              .max(64)
              .optional()
              .meta({ description: 'decide at this site (a site id): for a MAC no machine has yet, or a machine of no site' }),
          }),
        },
        responses: { 200: json(BootExplanation), ...errorResponses },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const explanation = await explainMachine(c.get('deps').db, c.get('principal')!, { idOrMac: c.req.valid('param').idOrMac, arch: q.arch, site: q.site });
        return c.json(explanation, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/{idOrMac}/reprovision',
        tags: ['machines'],
        summary: 'Netboot this machine again: forget its completed one-shot assignments and mark it ready',
        request: { params: MachineParams },
        responses: { 200: json(Machine), ...errorResponses },
      }),
      async (c) => {
        const { db, clock } = c.get('deps');
        const row = await findMachine(db, c.req.valid('param').idOrMac);
        if (!row) throw notFound('machine');
        assertWrite(c.get('principal')!, row.site_id, 'machine');
        const now = clock.now();
        await db.batch([
          sql('DELETE FROM assignment_consumptions WHERE machine_id = ?', row.id),
          sql("UPDATE machines SET state = 'ready', updated_at = ? WHERE id = ?", now, row.id),
          auditOk(c, row.id, row.site_id),
        ]);
        return c.json(toMachine({ ...row, state: 'ready', updated_at: now }), 200);
      },
    );
}
