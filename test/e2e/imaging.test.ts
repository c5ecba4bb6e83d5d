import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomMac } from '../contract/target.ts';
import { savedMachine, until } from '../relay/support/relay-harness.ts';
import { startNodeCloud, type E2eCloud } from './support/cloud.ts';
import { imagerFiles, imagerImages, imagerResult, imagingProfile, requireImagingPeers, uploadImage, zstdCompress } from './support/imaging.ts';
import { assign, machine, tail, timeline } from './support/machines.ts';
import { buildLocalDisk } from './support/os-image.ts';
import { startSite, type Site, type VmRun } from './support/site.ts';

/**
 * The imaging workflow on real VMs (qemu TCG) in a site whose relay is the DHCP server, with the
 * cloud on its Node entry: a one-shot imaging assignment netboots the imager (built from Debian
 * packages as `npm run build:imager` does), which streams a disk image through the relay's cache onto
 * a blank virtio disk and reboots; the same VM then boots from that disk. Then a corrupted image, and
 * two machines imaging one image through one upstream fetch.
 */
requireImagingPeers();

const MiB = 1 << 20;
/** Something only this run knows, carried by the disk image's marker. */
const RUN_ID = randomBytes(6).toString('hex');

let cloud: E2eCloud;
let site: Site;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'edgeboot-e2e-imaging-'));
  cloud = await startNodeCloud();
  await imagerFiles();
  site = await startSite({ tag: 'e2eimg', cloud, mode: 'dhcp', net: 94 });
}, 600_000);

afterAll(async () => {
  await site?.close();
  await cloud?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function blankDisk(name: string, size = 64 * MiB): string {
  const path = join(work, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}


const consoleHas = (run: VmRun, s: string) => run.lines.some((l) => l.includes(s));
const isZero = (b: Buffer) => b.every((x) => x === 0);

describe('imaging end to end (relay in DHCP mode, cloud on the Node entry)', () => {
  it('a one-shot imaging assignment writes a zstd disk image to a blank disk; the machine then boots it', async () => {
    const mac = randomMac();
    const marker = `${RUN_ID}.${mac}`;
    const raw = readFileSync(await buildLocalDisk(join(work, 'good.img'), marker));
    const stored = zstdCompress(raw);
    const image = await uploadImage(cloud, stored, 'local-disk', 'disk-zst');
    const profile = await imagingProfile(cloud, image.id);
    await assign(cloud, site.siteId, mac, profile, { once: true });
    const disk = blankDisk(`disk-${mac.replace(/:/g, '')}.img`);

    const first = await site.boot({ firmware: 'bios', mac, disk, timeoutMs: 240_000 });
    expect(imagerResult(first), tail(first, 80)).toEqual({ result: 'succeeded', action: 'reboot' });
    // The imager itself, not some other boot, wrote this: its job named the image and the disk.
    expect(consoleHas(first, `(raw.zst, ${stored.length} bytes, sha256 ${image.sha256}) → /dev/vda`), tail(first)).toBe(true);
    expect(readFileSync(disk).subarray(0, raw.length).equals(raw)).toBe(true);

    const m = await until('the machine to be deployed', async () => ((await machine(cloud, mac)).state === 'deployed' ? true : null), 30_000);
    expect(m).toBe(true);
    // The imager reported the VM's hardware on the way (issue 17): its disk, its NIC, BIOS firmware.
    const inv = (await machine(cloud, mac)).inventory;
    expect(inv.disks).toContainEqual(expect.objectContaining({ name: 'vda', sizeBytes: 64 * MiB }));
    expect(inv.nics.map((n: any) => n.mac)).toContain(mac);
    expect(inv.firmware).toMatchObject({ mode: 'bios', secureBoot: null });
    expect(inv.cpu.count).toBeGreaterThanOrEqual(1);
    expect(inv.memoryBytes).toBeGreaterThan(64 * MiB);
    const tl = await timeline(cloud, mac);
    const boot = tl.boots.find((b: any) => b.outcome === 'succeeded');
    expect(boot, JSON.stringify(tl.boots.map((b: any) => [b.bootId, b.outcome]))).toBeDefined();
    const stages = boot.stages.map((s: any) => s.stage);
    for (const s of ['script-rendered', 'file-fetched', 'callback-started', 'callback-job', 'callback-progress', 'callback-succeeded']) expect(stages, JSON.stringify(stages)).toContain(s);
    const progress = boot.stages.filter((s: any) => s.stage === 'callback-progress').map((s: any) => s.detail);
    expect(progress.at(-1)).toMatchObject({ bytes: stored.length, totalBytes: stored.length, percent: 100 });
    expect(progress.at(-1).rate).toBeGreaterThan(0);
    const succeeded = boot.stages.find((s: any) => s.stage === 'callback-succeeded');
    expect(succeeded.detail.message).toMatch(new RegExp(`wrote ${raw.length} bytes to /dev/vda .* MB/s.*read-back sha256`));

    // The one-shot is consumed: the relay stops answering this machine, and it boots its new disk.
    await until('the relay to learn that the machine boots from disk', async () => savedMachine(site.relay.stateDir, mac)?.netboot === false, 30_000);
    const second = await site.boot({ firmware: 'bios', mac, disk, timeoutMs: 150_000 });
    expect(imagerResult(second), tail(second)).toBeNull();
    expect(consoleHas(second, `EDGEBOOT-LOCAL marker=${marker}`), tail(second)).toBe(true);
  });

  it('a corrupted image is refused: the imager reports failed with the reason and its log, wipes the disk and powers off', async () => {
    const mac = randomMac();
    const marker = `${RUN_ID}.bad.${mac}`;
    const raw = readFileSync(await buildLocalDisk(join(work, 'bad.img'), marker));
    const image = await uploadImage(cloud, raw, 'corrupted-disk', 'disk-raw');
    // Bit rot in the cloud's object folder after the upload: the stored sha256 no longer matches.
    const object = join(cloud.dataDir!, 'objects', 'images', image.id);
    const bytes = readFileSync(object);
    expect(bytes.length).toBe(raw.length);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    writeFileSync(object, bytes);
    const profile = await imagingProfile(cloud, image.id, { verify: 'stream' });
    await assign(cloud, site.siteId, mac, profile, { once: true });
    // The disk held a bootable system before (the image itself, intact): after a failed imaging it must boot nothing.
    const disk = join(work, `disk-${mac.replace(/:/g, '')}.img`);
    writeFileSync(disk, Buffer.concat([raw, Buffer.alloc(16 * MiB)]));

    const run = await site.boot({ firmware: 'bios', mac, disk, timeoutMs: 240_000 });
    expect(imagerResult(run), tail(run)).toEqual({ result: 'failed', action: 'poweroff' });
    expect(run.exit.signal, 'the VM powered itself off').toBeNull();
    const written = readFileSync(disk);
    expect(isZero(written.subarray(0, MiB)), 'the head of the disk is wiped').toBe(true);
    expect(isZero(written.subarray(written.length - MiB)), 'the tail of the disk is wiped').toBe(true);

    const state = await until('the machine to be failed', async () => ((await machine(cloud, mac)).state === 'failed' ? true : null), 30_000);
    expect(state).toBe(true);
    const tl = await timeline(cloud, mac);
    const boot = tl.boots.find((b: any) => b.outcome === 'failed');
    expect(boot).toBeDefined();
    const failed = boot.stages.find((s: any) => s.stage === 'callback-failed');
    // The relay's cache checks the sha256 and cuts the download before its last byte.
    expect(failed.detail.reason).toMatch(/download failed after \d+ of \d+ bytes|short download|sha256 mismatch/);
    expect(boot.logTail).toContain('streaming http://');
    expect(boot.logTail).toContain('wiping the first and last MiB of /dev/vda');
  });

  it('two machines (BIOS and UEFI) imaging one image at once: the relay fetches it from the cloud once', async () => {
    // Random bytes: nothing on the way can compress them, so the byte count is the image's.
    const raw = randomBytes(24 * MiB);
    const image = await uploadImage(cloud, raw, 'shared-disk', 'disk-raw');
    const profile = await imagingProfile(cloud, image.id, { verify: 'stream', onSuccess: 'poweroff' });
    const macs = [randomMac(), randomMac()];
    for (const mac of macs) await assign(cloud, site.siteId, mac, profile, { once: true });
    const disks = macs.map((mac) => blankDisk(`disk-${mac.replace(/:/g, '')}.img`));
    // The imager's kernel and initramfs cross the WAN too, once, unless an earlier scenario left them
    // in the relay's cache: what the cache holds now says which.
    const cached = new Set(readdirSync(join(site.relay.stateDir, 'cache', 'objects')));
    const imager = await imagerImages(cloud);
    const imagerBytes = [imager.kernel, imager.initrd].filter((f) => !cached.has(f.sha256)).reduce((n, f) => n + f.size, 0);
    const before = site.bridge.bytesFromCloud();
    const firmware = ['bios', 'uefi'] as const;
    const runs = await Promise.all(macs.map((mac, i) => site.boot({ firmware: firmware[i]!, mac, disk: disks[i]!, timeoutMs: 280_000 })));
    const upstream = site.bridge.bytesFromCloud() - before - imagerBytes;
    for (const run of runs) expect(imagerResult(run), tail(run)).toEqual({ result: 'succeeded', action: 'poweroff' });
    // Under OVMF the imager reads UEFI and efivars: OVMF_CODE_4M.fd has no Secure Boot, so off.
    expect((await machine(cloud, macs[1]!)).inventory?.firmware, tail(runs[1]!)).toMatchObject({ mode: 'uefi', secureBoot: false });
    for (const d of disks) expect(readFileSync(d).subarray(0, raw.length).equals(raw)).toBe(true);
    // Once the image (24 MiB), plus scripts, callbacks and sync: well under twice.
    const what = `${upstream} bytes from the cloud besides ${imagerBytes} of the imager, for a ${raw.length}-byte image`;
    expect(upstream, what).toBeGreaterThanOrEqual(raw.length);
    expect(upstream, what).toBeLessThan(raw.length * 1.25);
    const objects = readdirSync(join(site.relay.stateDir, 'cache', 'objects'));
    expect(objects).toContain(image.sha256);
  });
});
