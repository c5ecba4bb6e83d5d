import type { TemplateVars } from '../../../shared/boot/ipxe-script.ts';

/** The machine columns templates read (labels as stored: JSON text). */
export interface VarsMachine {
  id: string;
  mac: string;
  hostname: string | null;
  uuid: string | null;
  serial: string | null;
  labels: string;
}

/**
 * What a boot's templates see: the command line when the script is rendered (boot/serve.ts), the
 * answer files when the installer fetches them (routes/callback-files.ts). Both must agree, so both
 * build them here. Without a callback token there is nowhere to call back or fetch files from.
 */
export function bootTemplateVars(
  m: VarsMachine,
  b: { siteId: string; arch: string | null; fileBase: string; callbackToken: string | null; bootId: string | null },
): TemplateVars {
  const callbackUrl = b.callbackToken ? `${b.fileBase}/v1/callback` : null;
  return {
    mac: m.mac,
    machineId: m.id,
    hostname: m.hostname,
    uuid: m.uuid,
    serial: m.serial,
    siteId: b.siteId,
    arch: b.arch,
    labels: JSON.parse(m.labels) as Record<string, string>,
    callbackUrl,
    callbackToken: b.callbackToken,
    bootId: b.bootId,
    filesUrl: callbackUrl && `${callbackUrl}/files/${b.callbackToken}`,
  };
}
