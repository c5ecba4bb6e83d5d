import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { RenderError, renderTemplate } from '../../../shared/boot/ipxe-script.ts';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import { ProfileSpec } from '../../../shared/schemas/profile.ts';
import type { CallbackEnv } from '../auth/callback-token.ts';
import { bootTemplateVars, type VarsMachine } from '../boot/template-vars.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { errorResponses } from './openapi.ts';

/**
 * GET /v1/callback/files/<callback token>/<name> — an installer's answer file (preseed.cfg,
 * user-data, ks.cfg, unattend.xml…), the profile's template rendered for this machine and boot.
 * The token is in the path because installers take one URL and append file names to it
 * (cloud-init's `ds=nocloud-net;s=<url>/` fetches `<url>/meta-data` and `<url>/user-data`); the
 * rendered text can hold secrets of the boot (its token), so it is never cached.
 *
 * Values substituted into templates pass the same safe character set as scripts
 * (shared/boot/ipxe-script.ts), so a hostname or label cannot inject YAML, shell or XML either.
 */

const FileParams = z.object({ token: z.string().max(128), name: z.string().max(64) });

const fileRoute = createRoute({
  method: 'get',
  path: '/files/{token}/{name}',
  tags: ['callbacks'],
  summary: "An installer's answer file, rendered for this machine (callback token in the path)",
  request: { params: FileParams },
  responses: {
    200: { description: 'the rendered file', content: { 'text/plain': { schema: z.string() } } },
    409: { description: 'a machine value is not safe to substitute', content: { 'application/json': { schema: ErrorEnvelope } } },
    410: { description: 'the boot already finished', content: { 'application/json': { schema: ErrorEnvelope } } },
    ...errorResponses,
  },
});

interface MachineRow extends VarsMachine {
  arch: string | null;
}

const CONTENT_TYPES: [RegExp, string][] = [
  [/\.xml$/i, 'application/xml; charset=utf-8'],
  [/\.(ya?ml)$/i, 'application/yaml; charset=utf-8'],
  [/\.json$/i, 'application/json; charset=utf-8'],
];

export function answerFileRoutes(r: OpenAPIHono<CallbackEnv>): void {
  r.openapi(fileRoute, async (c) => {
    const { name } = c.req.valid('param');
    const boot = c.get('boot');
    const { db } = c.get('deps');
    const [profile, machine] = await Promise.all([
      boot.profile_id === null ? null : db.first<{ spec: string }>(sql('SELECT spec FROM profiles WHERE id = ?', boot.profile_id)),
      db.first<MachineRow>(sql('SELECT id, mac, hostname, uuid, serial, arch, labels FROM machines WHERE id = ?', boot.machine_id)),
    ]);
    const parsed = profile === null ? null : ProfileSpec.safeParse(JSON.parse(profile.spec));
    const files = parsed?.success && (parsed.data.kind === 'linux' || parsed.data.kind === 'wimboot') ? (parsed.data.files ?? []) : [];
    const file = files.find((f) => f.name === name);
    // The token resolved through a join on machines, and boots go with their machine: it exists.
    const vars = bootTemplateVars(machine!, { siteId: boot.site_id, arch: machine!.arch, fileBase: boot.file_base ?? '', callbackToken: c.get('callbackToken'), bootId: boot.id });
    // cloud-init needs a meta-data file even when a profile only cares about user-data.
    const template = file?.template ?? (name === 'meta-data' ? 'instance-id: {{machineId}}\nlocal-hostname: {{hostname}}\n' : null);
    if (template === null) throw new AppError('not_found', `the profile of this boot has no answer file named ${name}`);
    let text: string;
    try {
      text = renderTemplate(template, vars);
    } catch (err) {
      if (err instanceof RenderError) throw new AppError('conflict', `answer file ${name} cannot be rendered for this machine: ${err.message}`);
      throw err;
    }
    const type = CONTENT_TYPES.find(([re]) => re.test(name))?.[1] ?? 'text/plain; charset=utf-8';
    const res = c.text(text, 200, { 'cache-control': 'no-store' });
    res.headers.set('content-type', type);
    return res;
  });
}
