/**
 * npm run build:imager [-- --flavour amd64|cloud-amd64 --out imager/dist --cache .cache/imager]
 *
 * Builds imager/dist/vmlinuz and imager/dist/initramfs.img from Debian packages (apt-get download,
 * unpacked, never installed) and prints how to upload them and make an imaging profile.
 * Needs apt lists (apt-get update), dpkg-deb and busybox-static; no root.
 */
import { statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KERNEL_METAPACKAGES, type KernelFlavour } from '../imager/build/debian-kernel.ts';
import { buildImager } from '../imager/build/imager.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    flavour: { type: 'string', default: 'amd64' },
    out: { type: 'string', default: join(ROOT, 'imager/dist') },
    cache: { type: 'string', default: join(ROOT, '.cache/imager') },
  },
});
const flavour = values.flavour as KernelFlavour;
if (!(flavour in KERNEL_METAPACKAGES)) {
  console.error(`--flavour ${flavour}: one of ${Object.keys(KERNEL_METAPACKAGES).join(', ')}`);
  process.exit(2);
}

const started = Date.now();
const b = await buildImager({ cacheDir: resolve(values.cache!), outDir: resolve(values.out!), flavour });
const mib = (p: string) => `${(statSync(p).size / 2 ** 20).toFixed(1)} MiB`;
const rel = (p: string) => relative(process.cwd(), p) || p;
console.log(`imager built in ${((Date.now() - started) / 1000).toFixed(1)} s from ${b.kernel.package} ${b.kernel.packageVersion}:
  ${rel(b.vmlinuz)}  ${mib(b.vmlinuz)}
  ${rel(b.initramfs)}  ${mib(b.initramfs)}  (busybox, zstd, coreutils' tee/dd/wc/sha256sum + ${b.libraries.length} libraries, ${b.modules.length} modules)
${b.absentModules.length ? `  drivers this kernel lacks: ${b.absentModules.join(' ')}\n` : ''}
Upload both and a disk image (raw, .gz or .zst), then make an imaging profile and assign it once:

  API=http://127.0.0.1:8787 TOKEN=ebt_...        # the admin token printed at the first start
  H="authorization: Bearer $TOKEN"
  image() {  # name kind file → image id
    id=$(curl -sf -H "$H" -H 'content-type: application/json' -d "{\\"name\\":\\"$1\\",\\"kind\\":\\"$2\\"}" $API/v1/images | sed 's/.*"id":"\\([^"]*\\)".*/\\1/')
    curl -sf -X PUT -H "$H" -H 'content-type: application/octet-stream' --data-binary @"$3" $API/v1/images/$id/content >/dev/null && echo $id
  }
  KERNEL=$(image imager-vmlinuz kernel ${rel(b.vmlinuz)})
  INITRD=$(image imager-initramfs initrd ${rel(b.initramfs)})
  DISK=$(image debian-12 disk-zst debian-12.raw.zst)   # disk-raw, disk-gz or disk-zst
  PROFILE=$(curl -sf -H "$H" -H 'content-type: application/json' $API/v1/profiles -d "{\\"name\\":\\"image-debian-12\\",
    \\"spec\\":{\\"kind\\":\\"imaging\\",\\"kernel\\":\\"$KERNEL\\",\\"initrds\\":[\\"$INITRD\\"],\\"diskImage\\":\\"$DISK\\",
    \\"cmdline\\":\\"console=ttyS0 console=tty0\\",\\"verify\\":\\"readback\\",\\"onSuccess\\":\\"reboot\\",\\"onFailure\\":\\"poweroff\\"}}" \\
    | sed 's/.*"id":"\\([^"]*\\)".*/\\1/')
  # "reinstall this machine with that image", once: it boots its disk afterwards
  curl -sf -H "$H" -H 'content-type: application/json' $API/v1/assignments \\
    -d "{\\"profileId\\":\\"$PROFILE\\",\\"selector\\":{\\"mac\\":\\"52:54:00:12:34:56\\"},\\"once\\":true}"

Images over 100 MB go up as a multipart upload (README, "The API"). targetDisk {path, serial, size}
in the spec picks the disk when the machine has more than one non-removable disk.`);
