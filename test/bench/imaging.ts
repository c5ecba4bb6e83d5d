/**
 * Benchmark (not a test; never run by CI): imaging throughput of a 512 MiB raw image written by the
 * imager in a VM through the relay's cache (cold, then warm; verify=readback, then verify=stream),
 * against `curl | dd` of the very same file from nginx in the same VM set-up (same kernel, same
 * virtio NIC and disk, same LAN of namespaces), with what busybox wget, a streaming sha256 and the
 * read-back cost measured separately in that reference boot.
 *
 *   npm run bench:imaging [-- --size-mib 512]
 *
 * qemu runs under TCG here (no KVM): every figure is bound by CPU emulation and far below what the
 * same pipeline does on hardware; the ratios are the point. Needs root (network namespaces),
 * qemu-system-x86, nginx, curl, busybox-static, zstd; downloads Debian packages into .cache/e2e.
 * Every process is started here (in namespaces made here) and stopped by its pid.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImager } from '../../imager/build/imager.ts';
import { text } from '../../imager/build/initramfs.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';
import { startNodeCloud } from '../e2e/support/cloud.ts';
import { imagerFiles, imagerImages, imagerResult, imagingProfile, uploadImage } from '../e2e/support/imaging.ts';
import { assign, CACHE, tail } from '../e2e/support/machines.ts';
import { startSite, type VmRun } from '../e2e/support/site.ts';
import { missingPeers } from '../support/netns.ts';
import { NGINX, nginxStaticConfig } from './lib/nginx.ts';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '512' } } });
const SIZE = Number(values['size-mib']) * 2 ** 20;
const NGINX_PORT = 8090;
const BOOT_TIMEOUT_MS = 30 * 60_000;

const missing = missingPeers(['qemu-system-x86_64', 'curl'], [[NGINX, 'nginx'], ['/bin/busybox', 'busybox-static'], ['/usr/bin/zstd', 'zstd']]);
if (missing.length) {
  console.error(`missing: ${missing.map((m) => m.what).join(', ')} — apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`);
  process.exit(2);
}

/**
 * The reference boot's /init: the imager's kernel and drivers, DHCP, then each way of getting the
 * file onto the disk in turn, caches dropped before each, timed from /proc/uptime.
 */
const REFERENCE_INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1
echo
dmesg -n 1
for m in $(cat /etc/edgeboot/modules); do insmod /lib/modules/$m.ko 2>/dev/null; done
url=; size=
for a in $(cat /proc/cmdline); do
  case "$a" in bench.url=*) url=\${a#*=} ;; bench.size=*) size=\${a#*=} ;; esac
done
ifc=; i=0
while [ -z "$ifc" ] && [ $i -lt 40 ]; do
  for d in /sys/class/net/*; do n=\${d##*/}; [ "$n" != lo ] && [ "$(cat $d/type)" = 1 ] && ifc=$n; done
  [ -z "$ifc" ] && sleep 0.25; i=$((i + 1))
done
ip link set "$ifc" up
timeout 60 udhcpc -i "$ifc" -s /usr/share/udhcpc/default.script -f -q -n -t 10 -T 3
now_cs() { read -r up idle </proc/uptime; echo "\${up%.*}\${up#*.}"; }
# coreutils' programs, as the imager has them (busybox sh runs its applets for bare names)
cu=/usr/lib/edgeboot
bench() {
  name=$1; shift
  sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(now_cs); sh -c "$*"; rc=$?; t1=$(now_cs)
  echo "BENCH $name rc=$rc cs=$((t1 - t0))"
}
bench curl-dd "curl -sS --fail '$url' | dd of=/dev/vda bs=4M conv=notrunc,fsync 2>/dev/null"
bench wget-dd "wget -q -O - '$url' | dd of=/dev/vda bs=4M conv=notrunc,fsync 2>/dev/null"
bench curl-null "curl -sS --fail -o /dev/null '$url'"
bench curl-sha256-dd "mkfifo /tmp/f; $cu/sha256sum </tmp/f >/tmp/sum & curl -sS --fail '$url' | $cu/tee /tmp/f | $cu/dd of=/dev/vda bs=4M conv=notrunc,fsync status=none; wait"
bench busybox-tee-sha256-dd "mkfifo /tmp/g; sha256sum </tmp/g >/tmp/sum2 & curl -sS --fail '$url' | tee /tmp/g | dd of=/dev/vda bs=4M conv=notrunc,fsync 2>/dev/null; wait"
bench readback-sha256 "$cu/dd if=/dev/vda bs=4M iflag=count_bytes count=$size status=none | $cu/sha256sum"
echo BENCH-DONE
poweroff -f
`;

async function ok<T = any>(r: Promise<{ status: number; body: any; text: string }>, want: number, what: string): Promise<T> {
  const x = await r;
  if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body as T;
}

/** Over 100 MB an image goes up in parts (README, "The API"). */
async function uploadLarge(t: ApiTarget, path: string, size: number, name: string): Promise<{ id: string; sha256: string }> {
  const img = await ok<{ id: string }>(call(t, 'POST', '/v1/images', { json: { name: unique(name), kind: 'disk-raw' } }), 201, 'image');
  const partSize = 64 * 2 ** 20;
  const up = await ok<{ id: string }>(call(t, 'POST', `/v1/images/${img.id}/uploads`, { json: { size, partSize } }), 201, 'upload');
  const fd = openSync(path, 'r');
  try {
    for (let n = 1, at = 0; at < size; n++, at += partSize) {
      const part = Buffer.alloc(Math.min(partSize, size - at));
      readSync(fd, part, 0, part.length, at);
      await ok(call(t, 'PUT', `/v1/images/${img.id}/uploads/${up.id}/parts/${n}`, { body: part as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(part.length) } }), 200, `part ${n}`);
    }
  } finally {
    closeSync(fd);
  }
  const done = await ok<{ id: string; sha256: string }>(call(t, 'POST', `/v1/images/${img.id}/uploads/${up.id}/complete`), 200, 'complete');
  return done;
}

const secs = (cs: number) => cs / 100;
const mbs = (bytes: number, s: number) => bytes / 1e6 / s;

interface ImagerFigures {
  writeS: number;
  readbackS: number | null;
  allS: number;
  wallS: number;
}

/** The imager's own timings from its console lines, and power-on to its last line. */
function imagerFigures(run: VmRun): ImagerFigures {
  const r = imagerResult(run);
  if (r?.result !== 'succeeded') throw new Error(`the imager did not succeed:\n${tail(run, 60)}`);
  const find = (re: RegExp) => {
    for (const l of run.lines) {
      const m = re.exec(l);
      if (m) return Number(m[1]);
    }
    return null;
  };
  const writeS = find(/edgeboot-imager: wrote \d+ bytes in ([\d.]+) s;/);
  const readbackS = find(/edgeboot-imager: read back \d+ bytes from \S+ in ([\d.]+) s/);
  const allS = find(/; ([\d.]+) s in all/);
  if (writeS === null || allS === null) throw new Error(`no timings on the console:\n${tail(run, 60)}`);
  const last = run.lines.findIndex((l) => l.includes('EDGEBOOT-IMAGER result='));
  return { writeS, readbackS, allS, wallS: run.at[last]! / 1000 };
}

const cloud = await startNodeCloud();
const work = mkdtempSync(join(tmpdir(), 'edgeboot-bench-imaging-'));
let site: Awaited<ReturnType<typeof startSite>> | undefined;
try {
  console.log(`building the imager and the reference initramfs (curl from this host), a ${SIZE / 2 ** 20} MiB image…`);
  await imagerFiles();
  const reference = await buildImager({
    cacheDir: CACHE,
    outDir: join(work, 'reference'),
    flavour: 'cloud-amd64',
    initramfsName: 'reference.img',
    extraPrograms: [{ binary: '/usr/bin/curl', dest: 'bin/curl', roots: ['/'] }],
    overrides: [{ type: 'file', path: 'init', data: text(REFERENCE_INIT), mode: 0o755 }],
  });

  // Random bytes: nothing on the way can compress them.
  const www = join(work, 'www');
  mkdirSync(www);
  const imagePath = join(www, 'image.raw');
  const hash = createHash('sha256');
  const fd = openSync(imagePath, 'w');
  const chunk = Buffer.alloc(8 * 2 ** 20);
  for (let at = 0; at < SIZE; at += chunk.length) {
    const b = chunk.subarray(0, Math.min(chunk.length, SIZE - at));
    randomFillSync(b);
    hash.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  const image = await uploadLarge(cloud, imagePath, SIZE, 'bench-512');
  if (image.sha256 !== hash.digest('hex')) throw new Error('the cloud computed another sha256');

  site = await startSite({ tag: 'benchimg', cloud, mode: 'dhcp', net: 95 });
  const nginxDir = join(work, 'nginx');
  mkdirSync(nginxDir);
  const nginxArgs = nginxStaticConfig(nginxDir, { listen: `${site.relayIp}:${NGINX_PORT}`, root: www, workers: 1, connections: 64 });
  site.bed.spawn('relay', NGINX, nginxArgs);
  await new Promise((r) => setTimeout(r, 1000));

  const disk = join(work, 'disk.img');
  const blank = () => {
    const d = openSync(disk, 'w');
    ftruncateSync(d, SIZE + 64 * 2 ** 20);
    closeSync(d);
  };
  const boot = async (mac: string) => {
    blank();
    return site!.boot({ firmware: 'bios', mac, disk, timeoutMs: BOOT_TIMEOUT_MS });
  };

  const readback = await imagingProfile(cloud, image.id, { verify: 'readback', onSuccess: 'poweroff' });
  const stream = await imagingProfile(cloud, image.id, { verify: 'stream', onSuccess: 'poweroff' });
  const macA = randomMac();
  const macB = randomMac();
  await assign(cloud, site.siteId, macA, readback);
  await assign(cloud, site.siteId, macB, stream);

  console.log('imager, cold cache, verify=readback…');
  const cold = imagerFigures(await boot(macA));
  console.log('imager, warm cache, verify=readback…');
  const warm = imagerFigures(await boot(macA));
  console.log('imager, warm cache, verify=stream…');
  const warmStream = imagerFigures(await boot(macB));

  const { kernel } = await imagerImages(cloud);
  const refInitrd = await uploadImage(cloud, readFileSync(reference.initramfs), 'bench-reference-initrd', 'initrd');
  const refProfile = await ok<{ id: string }>(
    call(cloud, 'POST', '/v1/profiles', {
      json: { name: unique('bench-reference'), spec: { kind: 'linux', kernel: kernel.id, initrds: [refInitrd.id], cmdline: `console=ttyS0 panic=-1 bench.url=http://${site.relayIp}:${NGINX_PORT}/image.raw bench.size=${SIZE}` } },
    }),
    201,
    'reference profile',
  );
  const macC = randomMac();
  await assign(cloud, site.siteId, macC, refProfile.id);
  console.log('reference boot: curl | dd, wget | dd, curl > /dev/null, curl | tee sha256sum | dd (coreutils, then busybox), read-back sha256…');
  const ref = await boot(macC);
  const figures = new Map<string, number>();
  for (const l of ref.lines) {
    const m = /BENCH (\S+) rc=(\d+) cs=(\d+)/.exec(l);
    if (!m) continue;
    if (m[2] !== '0') throw new Error(`reference ${m[1]} failed (rc ${m[2]}):\n${tail(ref, 40)}`);
    figures.set(m[1]!, secs(Number(m[3])));
  }
  if (!ref.lines.some((l) => l.includes('BENCH-DONE'))) throw new Error(`the reference boot did not finish:\n${tail(ref, 40)}`);

  const mib = SIZE / 2 ** 20;
  const row = (name: string, s: number, note = '') => `  ${name.padEnd(44)} ${s.toFixed(1).padStart(7)} s  ${mbs(SIZE, s).toFixed(1).padStart(7)} MB/s  ${note}`;
  const curlDd = figures.get('curl-dd')!;
  console.log(`\n${mib} MiB raw image, BIOS VM (qemu TCG, 512 MiB RAM, virtio-net + virtio-blk on a host file), relay in DHCP mode`);
  console.log('imager (download + write; then the read-back; "all" = from the first byte to verified):');
  console.log(row('imager, cold relay cache, write', cold.writeS, `read-back ${cold.readbackS?.toFixed(1)} s, all ${cold.allS.toFixed(1)} s, power-on to done ${cold.wallS.toFixed(1)} s`));
  console.log(row('imager, warm relay cache, write', warm.writeS, `read-back ${warm.readbackS?.toFixed(1)} s, all ${warm.allS.toFixed(1)} s, power-on to done ${warm.wallS.toFixed(1)} s`));
  console.log(row('imager, warm relay cache, verify=stream', warmStream.writeS, `all ${warmStream.allS.toFixed(1)} s, power-on to done ${warmStream.wallS.toFixed(1)} s`));
  console.log('reference, same VM set-up, file from nginx in the relay namespace:');
  console.log(row('curl | dd', curlDd));
  console.log(row('busybox wget | dd', figures.get('wget-dd')!));
  console.log(row('curl > /dev/null (network only)', figures.get('curl-null')!));
  console.log(row('curl | tee >(sha256sum) | dd (coreutils)', figures.get('curl-sha256-dd')!));
  console.log(row('the same with busybox tee and sha256sum', figures.get('busybox-tee-sha256-dd')!));
  console.log(row('read-back: dd if=disk | sha256sum (coreutils)', figures.get('readback-sha256')!));
  console.log('ratios (throughput, imager / curl | dd):');
  console.log(`  warm cache, write phase:               ${(curlDd / warm.writeS).toFixed(2)}×`);
  console.log(`  cold cache, write phase:               ${(curlDd / cold.writeS).toFixed(2)}×`);
  console.log(`  warm cache, verify=readback, all:      ${(curlDd / warm.allS).toFixed(2)}×`);
  console.log(`  warm cache, verify=stream, all:        ${(curlDd / warmStream.allS).toFixed(2)}×`);
  console.log(`  streaming sha256 costs (curl|tee sha256sum|dd vs curl|dd): +${(figures.get('curl-sha256-dd')! - curlDd).toFixed(1)} s`);
  console.log(`  read-back costs (readback − stream run): +${(warm.allS - warmStream.allS).toFixed(1)} s`);
} finally {
  await site?.close();
  await cloud.close();
  rmSync(work, { recursive: true, force: true });
}
