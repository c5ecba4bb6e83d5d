import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { describeBinary, type BinaryInfo } from '../../../shared/boot/binary-info.ts';
import { ImageArch, ImageKind, MIN_PART_SIZE, MAX_PART_SIZE, DEFAULT_PART_SIZE, Sha256Hex, type Image } from '../../../shared/schemas/image.ts';
import { Name } from '../../../shared/schemas/common.ts';
import { ApiError, readJson } from '../api-client.ts';
import { addDeleteCommand } from './delete-command.ts';
import { stateDir } from '../config.ts';
import { contextOf, type CommandContext } from '../context.ts';
import { CliError, usageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { emit, formatBytes, formatFields, formatTable, formatTime } from '../output.ts';
import { parseDuration, parseInteger, parseSize } from '../parse.ts';
import { resolveImage, resolveSite } from '../resolve.ts';
import { plainProgress, silentProgress, terminalProgress } from '../upload/progress.ts';
import { UploadStateStore } from '../upload/state.ts';
import { uploadFile } from '../upload/upload.ts';
import { guessKind, KIND_HEAD_BYTES } from '../upload/kind.ts';

const KINDS = ImageKind.options;

const ARCH_HELP = 'the machines it is for: x86-64, arm64 or any (a kernel or EFI binary gets the arch of its bytes)';

function imagesTable(rows: readonly Image[]): string {
  return formatTable(
    rows,
    [
      { header: 'name', value: (i) => i.name },
      { header: 'kind', value: (i) => i.kind },
      { header: 'arch', value: (i) => i.arch },
      { header: 'status', value: (i) => i.status },
      { header: 'size', value: (i) => formatBytes(i.size), align: 'right' },
      { header: 'sha256', value: (i) => (i.sha256 ? `${i.sha256.slice(0, 12)}…` : null) },
      { header: 'id', value: (i) => i.id },
    ],
    '(no images)',
  );
}

function imageFields(i: Image): string {
  return formatFields([
    ['name', i.name],
    ['id', i.id],
    ['kind', i.kind],
    ['arch', i.arch],
    ['binary', i.binary ? describeBinary(i.binary as BinaryInfo) : null],
    ['content type', i.contentType],
    ['status', i.status],
    ['size', i.size === null ? null : `${formatBytes(i.size)} (${i.size} bytes)`],
    ['sha256', i.sha256],
    ['created', formatTime(i.createdAt)],
    ['updated', formatTime(i.updatedAt)],
  ]);
}

interface UploadFlags {
  name?: string;
  image?: string;
  kind?: (typeof KINDS)[number];
  arch?: ImageArch;
  contentType?: string;
  partSize: number;
  single?: boolean;
  multipart?: boolean;
  resume?: string;
  sha256?: string;
  retries: number;
  quiet?: boolean;
}

export function imagesCommand(): Command {
  const cmd = new Command('images').alias('image').description('kernels, initrds, ISOs, disk images, WIMs: bytes with their size and sha256');

  cmd
    .command('list')
    .alias('ls')
    .description('list images')
    .action(async (_o, c: Command) => {
      const ctx = contextOf(c);
      emit(ctx.out, await ctx.api().list<Image>('/v1/images'), imagesTable);
    });

  cmd
    .command('update')
    .description('rename an image or set its arch (admin); its bytes never change')
    .argument('<image>', 'image name or id')
    .option('--name <name>', 'new name')
    .addOption(new Option('--arch <arch>', ARCH_HELP).choices(ImageArch.options))
    .action(async (ref: string, o: { name?: string; arch?: ImageArch }, c: Command) => {
      const ctx = contextOf(c);
      if (o.name === undefined && o.arch === undefined) throw usageError('nothing to change', 'give --name or --arch');
      const image = await resolveImage(ctx.api(), ref);
      const next = await ctx.api().patch<Image>(`/v1/images/${image.id}`, { name: o.name, arch: o.arch });
      emit(ctx.out, next, () => `updated image ${next.name} (${next.id}): arch ${next.arch}`);
    });

  cmd
    .command('show')
    .description('one image')
    .argument('<image>', 'image name or id')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      emit(ctx.out, await resolveImage(ctx.api(), ref), imageFields);
    });

  cmd
    .command('create')
    .description('create an image record without bytes (admin); `upload` does this for you')
    .argument('<name>', 'image name')
    .addOption(new Option('--kind <kind>', 'what it is').choices(KINDS).default('file'))
    .option('--content-type <type>', 'MIME type', 'application/octet-stream')
    .addOption(new Option('--arch <arch>', ARCH_HELP).choices(ImageArch.options))
    .action(async (name: string, o: { kind: string; contentType: string; arch?: ImageArch }, c: Command) => {
      const ctx = contextOf(c);
      const img = await ctx.api().post<Image>('/v1/images', { name, kind: o.kind, contentType: o.contentType, arch: o.arch });
      emit(ctx.out, img, () => `created image ${img.name} (${img.id}); upload its bytes with: edgeboot images upload FILE --image ${img.id}`);
    });

  cmd
    .command('upload')
    .description('upload a file as an image (admin): streamed, multipart with retries, resumable, sha256-checked')
    .argument('<file>', 'the file to upload')
    .option('--name <name>', 'image name (default: the file name); created if it does not exist')
    .option('--image <image>', 'upload into this existing image (name or id) instead')
    .addOption(new Option('--kind <kind>', 'image kind for a new image (default: guessed from its first bytes, then its name)').choices(KINDS))
    .option('--content-type <type>', 'MIME type for a new image', 'application/octet-stream')
    .addOption(new Option('--arch <arch>', `for a new image: ${ARCH_HELP}`).choices(ImageArch.options))
    .option('--part-size <size>', `multipart part size, 5MiB-5GiB (default ${DEFAULT_PART_SIZE / 1024 ** 2}MiB; plain numbers are MiB)`, parseSize, DEFAULT_PART_SIZE)
    .option('--single', 'one streamed request (up to the server\'s per-request limit, 100 MB by default); not resumable')
    .option('--multipart', 'multipart even for a file smaller than one part')
    .option('--resume <upload-id>', 'continue this upload (the default is the one this machine saved for the same file)')
    .option('--sha256 <hex>', 'the SHA-256 the bytes must have: the server refuses the upload otherwise')
    .option('--retries <n>', 'retries per part after a network or server failure', parseInteger(0, 100), 5)
    .option('-q, --quiet', 'no progress output')
    .addHelpText(
      'after',
      `
Files up to one part go in one request; larger ones in parts, in order. A failed part is retried
with backoff; an interrupted upload (Ctrl-C, a lost connection, a crash) resumes when the same
command is run again: the upload id is kept in ${'$XDG_STATE_HOME'}/edgeboot/uploads, keyed by the
server, the image and the file's path, size and modification time, and the server says which parts
it has. The SHA-256 is computed while streaming and compared with the server's at the end.

Examples:
  edgeboot images upload ./ubuntu-24.04-live-server-amd64.iso
  edgeboot images upload ./vmlinuz --name ubuntu-24.04-vmlinuz --kind kernel --sha256 9f86d08…`,
    )
    .action(async (file: string, o: UploadFlags, c: Command) => upload(contextOf(c), file, o));

  cmd
    .command('abort-upload')
    .description('abort an unfinished multipart upload: its parts are dropped and the image is pending again')
    .argument('<image>', 'image name or id')
    .argument('[upload-id]', 'the upload (default: the ones this machine saved for the image)')
    .action(async (ref: string, uploadId: string | undefined, _o, c: Command) => {
      const ctx = contextOf(c);
      const img = await resolveImage(ctx.api(), ref);
      const store = new UploadStateStore(stateDir(ctx.env));
      const saved = store.all().filter((s) => s.imageId === img.id && s.url === ctx.api().url);
      const ids = uploadId ? [uploadId] : [...new Set(saved.map((s) => s.uploadId))];
      if (ids.length === 0) {
        throw new CliError(EXIT.NOT_FOUND, `no unfinished upload of ${img.name} is saved on this machine`, {
          hint: 'give the upload id (a new upload of the image names the open one in its error)',
        });
      }
      for (const id of ids) await ctx.api().delete(`/v1/images/${img.id}/uploads/${encodeURIComponent(id)}`);
      for (const s of saved.filter((s) => ids.includes(s.uploadId))) store.remove(s);
      emit(ctx.out, { aborted: ids }, () => `aborted upload ${ids.join(', ')} of ${img.name}`);
    });

  cmd
    .command('download')
    .description('download an image\'s bytes (admin), checking its sha256')
    .argument('<image>', 'image name or id')
    .option('-o, --output <file>', 'write here (default: the image name in the current directory; "-" for stdout)')
    .action(async (ref: string, o: { output?: string }, c: Command) => {
      const ctx = contextOf(c);
      const img = await resolveImage(ctx.api(), ref);
      const res = await ctx.api().fetch('GET', `/v1/images/${img.id}/content`, { headers: { accept: '*/*' }, signal: AbortSignal.timeout(24 * 3600_000) });
      if (!res.ok || !res.body) await readJson(res); // throws the API's error
      const hash = createHash('sha256');
      const tee = new Transform({
        transform(chunk: Buffer, _e, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      const target = o.output ?? img.name;
      const tmp = target === '-' ? null : `${target}.part`;
      if (tmp) await pipeline(Readable.fromWeb(res.body as never), tee, createWriteStream(tmp));
      else await pipeline(Readable.fromWeb(res.body as never), tee, process.stdout, { end: false }); // stdout stays open
      const sha256 = hash.digest('hex');
      if (img.sha256 && sha256 !== img.sha256) {
        if (tmp) await rm(tmp, { force: true });
        throw new CliError(EXIT.ERROR, `the downloaded bytes have SHA-256 ${sha256}, not the image's ${img.sha256}; nothing was kept`);
      }
      if (tmp) await rename(tmp, target);
      if (target !== '-') emit(ctx.out, { image: img.id, path: target, sha256 }, () => `downloaded ${img.name} to ${target} (${formatBytes(img.size)}, sha256 ${sha256})`);
    });

  cmd
    .command('signed-url')
    .alias('url')
    .description('a signed, expiring URL of the image for a site\'s machines (admin); works without a token')
    .argument('<image>', 'image name or id')
    .requiredOption('--site <site>', 'the site the URL is for (name or id)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h (default 1h)', parseDuration)
    .action(async (ref: string, o: { site: string; ttl?: number }, c: Command) => {
      const ctx = contextOf(c);
      const [img, site] = await Promise.all([resolveImage(ctx.api(), ref), resolveSite(ctx.api(), o.site)]);
      const r = await ctx.api().post<{ url: string; expiresAt: string }>(`/v1/images/${img.id}/signed-url`, { siteId: site.id, ttlSeconds: o.ttl });
      emit(ctx.out, r, (x) => `${x.url}\n(expires ${formatTime(x.expiresAt)})`);
    });

  addDeleteCommand(cmd, {
    noun: 'image',
    description: 'delete an image no profile uses (admin)',
    argument: 'image',
    argHelp: 'image name or id',
    collection: 'images',
    resolve: resolveImage,
    label: (x) => x.name,
  });

  return cmd;
}

async function upload(ctx: CommandContext, file: string, o: UploadFlags): Promise<void> {
  if (o.single && o.multipart) throw usageError('--single and --multipart exclude each other');
  if (o.image && (o.name || o.kind || o.arch)) throw usageError('--image uploads into an existing image; --name, --kind and --arch are for a new one');
  if (o.partSize < MIN_PART_SIZE || o.partSize > MAX_PART_SIZE) throw usageError(`--part-size must be from 5MiB to 5GiB, not ${formatBytes(o.partSize)}`);
  if (o.sha256 !== undefined && !Sha256Hex.safeParse(o.sha256).success) throw usageError('--sha256 takes 64 lower-case hex digits');
  let path: string;
  try {
    path = realpathSync(file);
    if (!statSync(path).isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new CliError(EXIT.USAGE, `cannot upload ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const name = o.name ?? basename(path);
  if (!o.image && !Name.safeParse(name).success) throw usageError(`${JSON.stringify(name)} cannot be an image name (letters, digits, space and . _ : + @ -; at most 64)`, 'choose one with --name');

  const api = ctx.api();
  const image = o.image ? await resolveImage(api, o.image) : await imageNamed(ctx, name, path, o);
  if (image.status === 'ready') {
    throw new CliError(EXIT.REJECTED, `image ${image.name} already has its bytes (${formatBytes(image.size)}, sha256 ${image.sha256})`, {
      hint: 'images are immutable: upload under another --name, or delete this one first',
    });
  }

  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  const progress = o.quiet ? silentProgress : process.stderr.isTTY ? await terminalProgress(process.stderr) : plainProgress(ctx.out.stderr);
  try {
    const r = await uploadFile({
      api,
      image,
      path,
      partSize: o.partSize,
      mode: o.single ? 'single' : o.multipart ? 'multipart' : 'auto',
      expectSha256: o.sha256,
      resumeUploadId: o.resume,
      retries: o.retries,
      retryDelayMs: 1000,
      state: new UploadStateStore(stateDir(ctx.env)),
      progress,
      signal: controller.signal,
    });
    emit(ctx.out, { ...r, image: r.image }, () =>
      `uploaded ${r.image.name} (${r.image.id}): ${formatBytes(r.image.size)} in ${r.seconds.toFixed(1)}s, sha256 ${r.sha256} (matches the server's)`,
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The image called `name`: an unfinished one is reused (that is how a resumed upload finds it), else it is created. */
async function imageNamed(ctx: CommandContext, name: string, path: string, o: UploadFlags): Promise<Image> {
  const api = ctx.api();
  const existing = (await api.list<Image>('/v1/images')).find((i) => i.name === name);
  if (existing) return existing;
  let kind = o.kind;
  if (kind === undefined) {
    const guess = await guessKind(readHead(path, KIND_HEAD_BYTES), name);
    kind = guess.kind;
    if (!o.quiet) ctx.out.stderr(`new image ${name}: kind ${guess.kind} (${guess.why}; --kind sets another)`);
  }
  try {
    return await api.post<Image>('/v1/images', { name, kind, contentType: o.contentType, arch: o.arch });
  } catch (err) {
    // Another upload created it between our list and our create: use that one.
    if (err instanceof ApiError && err.status === 409) {
      const again = (await api.list<Image>('/v1/images')).find((i) => i.name === name);
      if (again) return again;
    }
    throw err;
  }
}

/** The first `n` bytes of a file (all of it when shorter). */
function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, buf, got, n - got, got);
      if (r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
