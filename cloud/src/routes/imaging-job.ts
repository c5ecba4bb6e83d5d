import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { chooseTargetDisk } from '../../../shared/boot/target-disk.ts';
import { ErrorEnvelope } from '../../../shared/schemas/common.ts';
import { DISK_FORMATS, ImagingJob, ImagingJobRequest } from '../../../shared/schemas/imaging.ts';
import { ProfileSpec } from '../../../shared/schemas/profile.ts';
import { CallbackQuery, type CallbackEnv } from '../auth/callback-token.ts';
import { cloudEvent } from '../boot/cloud-event.ts';
import { signFileUrl } from '../boot/file-urls.ts';
import { activeSigningKey } from '../boot/signing-keys.ts';
import { AppError } from '../errors.ts';
import { sql } from '../ports/sql-database.ts';
import { inventoryRoutes } from './inventory.ts';
import { errorResponses, json } from './openapi.ts';

/**
 * POST /v1/callback/job — the imager's job. The imager sends the disks it sees; the target is
 * chosen here (shared/boot/target-disk.ts) so that the rule is the same for every imager build and
 * tested once. The image URL is signed for where the machine fetched its script from (the relay's
 * base: the relay rewrites it into a grant for its cache, as it does for scripts).
 *
 * Read-only apart from one timeline entry: asking twice (an imager that restarted) gets the same job.
 */

/** How often the imager reports progress: often enough for a live view, rare enough for thousands of machines. */
const PROGRESS_INTERVAL_SECONDS = 3;

interface ImageRow {
  id: string;
  name: string;
  kind: string;
  status: string;
  size: number | null;
  sha256: string | null;
}

const jobRoute = createRoute({
  method: 'post',
  path: '/job',
  tags: ['callbacks'],
  summary: "The imager's job: target disk, image URL, format, sha256 and size (callback token)",
  security: [{ callbackToken: [] }],
  request: { query: CallbackQuery, body: { required: true, content: { 'application/json': { schema: ImagingJobRequest } } } },
  responses: {
    200: json(ImagingJob),
    409: json(ErrorEnvelope, 'no job can be given: not an imaging boot, no single matching disk, the image is not ready or larger than the disk'),
    410: json(ErrorEnvelope, 'the boot already finished'),
    ...errorResponses,
  },
});

/** Also mounts the imager's inventory report (inventory.ts), which shares the job's caller and prefix. */
export function imagingJobRoutes(r: OpenAPIHono<CallbackEnv>): void {
  inventoryRoutes(r);
  r.openapi(jobRoute, async (c) => {
    const { disks } = c.req.valid('json');
    const boot = c.get('boot');
    const { db, clock } = c.get('deps');
    const now = clock.now();

    const profile = boot.profile_id === null ? null : await db.first<{ name: string; spec: string }>(sql('SELECT name, spec FROM profiles WHERE id = ?', boot.profile_id));
    const parsed = profile === null ? null : ProfileSpec.safeParse(JSON.parse(profile.spec));
    if (!parsed?.success || parsed.data.kind !== 'imaging') throw new AppError('conflict', 'this boot is not an imaging boot (its profile is gone or of another kind)');
    const spec = parsed.data;

    const image = await db.first<ImageRow>(sql('SELECT id, name, kind, status, size, sha256 FROM images WHERE id = ?', spec.diskImage));
    if (!image) throw new AppError('conflict', `the profile's disk image ${spec.diskImage} no longer exists`);
    const format = (DISK_FORMATS as Record<string, (typeof DISK_FORMATS)[keyof typeof DISK_FORMATS]>)[image.kind];
    if (format === undefined) throw new AppError('conflict', `image ${image.name} is of kind ${image.kind}, not disk-raw, disk-gz or disk-zst`);
    if (image.status !== 'ready' || image.size === null || image.sha256 === null) throw new AppError('conflict', `image ${image.name} is not uploaded yet (status ${image.status})`);

    const choice = chooseTargetDisk(disks, spec.targetDisk);
    if (!choice.ok) throw new AppError('conflict', choice.reason);
    const disk = choice.disk;
    // A compressed image's written size is only known once written; the imager stops at the disk's end.
    if (format === 'raw' && image.size > disk.size) throw new AppError('conflict', `image ${image.name} (${image.size} bytes) is larger than ${disk.path} (${disk.size} bytes)`);
    if (boot.file_base === null) throw new AppError('conflict', 'this boot was rendered before imaging existed; boot the machine again');

    const url = await signFileUrl(await activeSigningKey(db, now), { base: boot.file_base, imageId: image.id, siteId: boot.site_id, nowSec: Math.floor(now / 1000) });
    await db.batch([
      cloudEvent({
        mac: boot.mac,
        siteId: boot.site_id,
        relayId: boot.relay_id,
        bootId: boot.id,
        source: 'callback',
        stage: 'callback-job',
        at: now,
        detail: { disk: disk.path, diskBytes: disk.size, imageId: image.id, format, bytes: image.size },
      }),
    ]);
    return c.json(
      {
        bootId: boot.id,
        machineId: boot.machine_id,
        mac: boot.mac,
        target: { name: disk.name, path: disk.path, size: disk.size },
        image: { id: image.id, name: image.name, url, format, sha256: image.sha256, size: image.size },
        verify: spec.verify,
        onSuccess: spec.onSuccess,
        onFailure: spec.onFailure,
        progressIntervalSeconds: PROGRESS_INTERVAL_SECONDS,
      },
      200,
    );
  });
}
