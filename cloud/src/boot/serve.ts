import { decideBoot, type BootDecision, type Catalog, type CatalogProfile } from '../../../shared/boot/decide.ts';
import { localGrubConfig, renderGrubConfig } from '../../../shared/boot/grub-config.ts';
import { localBootLines, RenderError, renderScript, type RenderContext } from '../../../shared/boot/ipxe-script.ts';
import { randomBase32, newId } from '../../../shared/ids.ts';
import type { SigningKey } from '../../../shared/crypto/signed-url.ts';
import type { Arch } from '../../../shared/schemas/common.ts';
import type { ProfileSpec } from '../../../shared/schemas/profile.ts';
import { sha256Hex } from '../auth/secrets.ts';
import type { AppDeps } from '../context.ts';
import { AppError } from '../errors.ts';
import { sql, type SqlStatement } from '../ports/sql-database.ts';
import type { MachineRow } from '../routes/machine-lookup.ts';
import { readBootInputs } from './boot-inputs.ts';
import { signFileUrls } from './file-urls.ts';
import { activeSigningKey } from './signing-keys.ts';
import { bootTemplateVars } from './template-vars.ts';

/**
 * One boot-script request, whichever way it arrived (relay-proxied or relay-signed direct), in two
 * database round trips: record the sighting and read the decision's inputs in one batch, decide and
 * render here, then write the boot record and its event in a second batch.
 *
 * Callback tokens: `ebc_` + 32 base32 chars (160 bits), stored only as sha256Hex(token) in
 * boots.callback_hash, expiring at boots.callback_expires_at (ms), for boots.machine_id only.
 */

/** Long enough for a slow installer; a boot that has not called back by then is abandoned. */
export const CALLBACK_TTL_MS = 24 * 3600 * 1000;

export interface BootRequest {
  mac: string;
  siteId: string;
  relayId: string | null;
  archCode?: number;
  uuid?: string;
  serial?: string;
  /** Where iPXE reaches files and callbacks: scheme://host[:port]. */
  fileBase: string;
  /** This request's URL without `choose`, to which a menu appends `&choose=<profileId>`. */
  chooseBase: string;
  /** A menu item the machine picked. */
  choose?: string;
  /**
   * What the machine runs: iPXE (a script), or GRUB under shim (a GRUB configuration, relay-served:
   * menu choices and failure reports go to the relay's `/grub/choose/<profile>` and `/grub/report/<what>`).
   */
  format?: 'ipxe' | 'grub';
}

export interface BootAnswer {
  decision: 'boot' | 'menu' | 'local';
  reason: string;
  script: string;
}

function imageIds(spec: ProfileSpec): string[] {
  switch (spec.kind) {
    case 'linux':
      return [spec.kernel, ...spec.initrds];
    case 'wimboot':
      return [spec.wimboot, spec.bcd, spec.bootSdi, spec.bootWim];
    case 'imaging':
      // The disk image is not in the script: the imager asks for it with its job (routes/imaging-job.ts).
      return [spec.kernel, ...spec.initrds];
    default:
      return [];
  }
}

export function localScript(arch: Arch, mac: string): string {
  return ['#!ipxe', `# edgeboot: local disk for ${mac} (${arch})`, ...localBootLines(arch), ''].join('\n');
}

/** The local-disk answer in the machine's own language. */
function localAnswer(format: BootRequest['format'], arch: Arch, mac: string): string {
  return format === 'grub' ? localGrubConfig(arch, mac) : localScript(arch, mac);
}

/**
 * The decision for a menu choice: allowed only when the machine gets that menu now and the menu
 * lists the profile, so `choose` cannot pick any profile of the catalog.
 */
function chosen(d: BootDecision, catalog: Catalog, profileId: string): BootDecision {
  if (d.action !== 'menu' || d.profile.spec.kind !== 'menu' || !d.profile.spec.items.some((i) => i.profileId === profileId)) {
    throw new AppError('forbidden', 'that profile is not an item of the menu this machine gets');
  }
  const p: CatalogProfile | undefined = catalog.profiles.get(profileId);
  const reason = `chosen from menu ${d.profile.name}`;
  if (!p) return { action: 'local', arch: d.arch, reason: `${reason}, but its profile no longer exists: local disk` };
  if (p.spec.kind === 'local') return { action: 'local', arch: d.arch, reason: `${reason}: profile ${p.name} boots the local disk` };
  if (p.spec.kind === 'menu') return { action: 'menu', arch: d.arch, profile: p, assignmentId: d.assignmentId, reason: `${reason}: menu ${p.name}` };
  return { action: 'boot', arch: d.arch, profile: p, assignmentId: d.assignmentId, once: false, reason: `${reason}: ${p.name}` };
}

export async function serveBoot(deps: AppDeps, req: BootRequest): Promise<BootAnswer> {
  const { db, clock } = deps;
  const now = clock.now();
  // Round trip 1: the sighting and the decision's inputs (boot/boot-inputs.ts).
  const inputs = await readBootInputs(db, req, now);
  const { machine, catalog } = inputs;
  // What the site's relays hold (boot/site-snapshot.ts) changes with a new machine, an architecture
  // learnt, or a machine that starts provisioning; the sync hub hears of it once the change committed.
  let snapshotChanged = inputs.discovered || inputs.archLearnt;
  try {
    let d = decideBoot({ mac: req.mac, archCode: req.archCode ?? null, uuid: req.uuid ?? null, serial: req.serial ?? null, siteId: req.siteId }, catalog);
    if (req.choose !== undefined) d = chosen(d, catalog, req.choose);
    if (d.action === 'ignore') throw new AppError('not_found', `no boot answer for this machine: ${d.reason}`);

    const { answer, writes } = await render(deps, req, now, machine, inputs.signingKey, d);
    // Round trip 2: the boot record and the script-rendered event, which say what was decided.
    await db.batch(writes);
    if (answer.bootId !== null && machine.state !== 'provisioning') snapshotChanged = true;
    return { decision: answer.decision, reason: answer.reason, script: answer.script };
  } finally {
    if (snapshotChanged) await deps.siteChanges?.changed(machine.site_id === null ? 'all' : [machine.site_id]);
  }
}

/** The answer to a decision that is not `ignore`, and the statements that record it. */
async function render(
  deps: AppDeps,
  req: BootRequest,
  now: number,
  machine: MachineRow,
  signingKey: SigningKey | null,
  d: Exclude<BootDecision, { action: 'ignore' }>,
): Promise<{ answer: BootAnswer & { bootId: string | null }; writes: SqlStatement[] }> {
  const writes: SqlStatement[] = [];
  let answer: BootAnswer;
  let bootId: string | null = null;
  if (d.action === 'local') {
    answer = { decision: 'local', reason: d.reason, script: localAnswer(req.format, d.arch, req.mac) };
  } else {
    const callbackToken = d.action === 'boot' ? `ebc_${randomBase32(32)}` : null;
    bootId = d.action === 'boot' ? newId('boot', now) : null;
    const vars = bootTemplateVars(machine, { siteId: req.siteId, arch: d.arch, fileBase: req.fileBase, callbackToken, bootId });
    try {
      const images = imageIds(d.profile.spec);
      const urlInput = { base: req.fileBase, imageIds: images, siteId: req.siteId, nowSec: Math.floor(now / 1000) };
      // A deployment's very first signed URL makes the first key (and costs round trips, once).
      const urls = images.length === 0 ? new Map<string, string>() : await signFileUrls(signingKey ?? (await activeSigningKey(deps.db, now)), urlInput);
      const ctx: RenderContext = {
        arch: d.arch,
        profileName: d.profile.name,
        mac: machine.mac,
        vars,
        fileUrl: (id) => urls.get(id) ?? '',
        chooseUrl: (profileId) => `${req.chooseBase}&choose=${encodeURIComponent(profileId)}`,
      };
      const script =
        req.format === 'grub'
          ? renderGrubConfig(d.profile.spec, { ...ctx, chooseUrl: (profileId) => `${req.fileBase}/grub/choose/${profileId}`, reportUrl: (what) => `${req.fileBase}/grub/report/${what}` })
          : renderScript(d.profile.spec, ctx);
      answer = { decision: d.action, reason: d.reason, script };
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      // Fail closed: a script that cannot be rendered safely becomes the local disk, and no boot
      // record (nor callback token) is left behind for it.
      bootId = null;
      answer = { decision: 'local', reason: `${d.reason}; not rendered (${err.message}): local disk`, script: localAnswer(req.format, d.arch, req.mac) };
    }
    if (bootId !== null && d.action === 'boot') {
      writes.push(
        sql(
          `INSERT INTO boots (id, machine_id, site_id, relay_id, profile_id, assignment_id, once, callback_hash, callback_expires_at, state, file_base, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'rendered', ?, ?, ?)`,
          bootId,
          machine.id,
          req.siteId,
          req.relayId,
          d.profile.id,
          d.assignmentId,
          d.once ? 1 : 0,
          sha256Hex(callbackToken!),
          now + CALLBACK_TTL_MS,
          req.fileBase,
          now,
          now,
        ),
        sql("UPDATE machines SET state = 'provisioning', updated_at = ? WHERE id = ?", now, machine.id),
      );
    }
  }
  const profileId = d.action === 'local' ? null : d.profile.id;
  writes.push(
    sql(
      "INSERT INTO boot_events (id, mac, site_id, relay_id, boot_id, source, stage, at, detail) VALUES (?, ?, ?, ?, ?, 'cloud', 'script-rendered', ?, ?)",
      newId('event', now),
      req.mac,
      req.siteId,
      req.relayId,
      bootId,
      now,
      JSON.stringify({ decision: answer.decision, reason: answer.reason.slice(0, 256), profileId }),
    ),
  );
  return { answer: { ...answer, bootId }, writes };
}

/** Header values must be ISO-8859-1 and one line; reasons may quote names: keep printable ASCII. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}
