/** The imager in end-to-end scenarios: built once per process, uploaded, tied to a disk image by an imaging profile. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImager, type ImagerBuild } from '../../../imager/build/imager.ts';
import { call, unique, type ApiTarget } from '../../contract/target.ts';
import { missingPeers } from '../../support/netns.ts';
import { CACHE } from './machines.ts';
import type { VmRun } from './site.ts';

/** zstd makes the disk-zst test image on the host; a missing one fails, naming the package. */
export function requireImagingPeers(): void {
  const missing = missingPeers(['qemu-system-x86_64'], [['/usr/bin/zstd', 'zstd'], ['/bin/busybox', 'busybox-static']]);
  if (missing.length) throw new Error(`missing: ${missing.map((m) => m.what).join(', ')} — apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`);
}

let built: Promise<ImagerBuild> | undefined;

/** The imager as `npm run build:imager -- --flavour cloud-amd64` builds it (VMs need no more drivers). */
export function imagerFiles(): Promise<ImagerBuild> {
  built ??= buildImager({ cacheDir: CACHE, outDir: join(CACHE, `imager-${process.pid}`), flavour: 'cloud-amd64' });
  return built;
}

async function ok<T = any>(r: Promise<{ status: number; body: any; text: string }>, want: number, what: string): Promise<T> {
  const x = await r;
  if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body as T;
}

export async function uploadImage(t: ApiTarget, bytes: Uint8Array, name: string, kind: string): Promise<{ id: string; sha256: string; size: number }> {
  const img = await ok<{ id: string }>(call(t, 'POST', '/v1/images', { json: { name: unique(name), kind } }), 201, 'image');
  const done = await ok<{ id: string; sha256: string; size: number }>(
    call(t, 'PUT', `/v1/images/${img.id}/content`, { body: bytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }),
    200,
    'image content',
  );
  return done;
}

type Uploaded = { id: string; sha256: string; size: number };
const imagerUploads = new WeakMap<ApiTarget, Promise<{ kernel: Uploaded; initrd: Uploaded }>>();

/** The imager's kernel and initramfs as images of this cloud, uploaded once per cloud. */
export function imagerImages(t: ApiTarget): Promise<{ kernel: Uploaded; initrd: Uploaded }> {
  let up = imagerUploads.get(t);
  if (!up) {
    up = (async () => {
      const b = await imagerFiles();
      const kernel = await uploadImage(t, readFileSync(b.vmlinuz), 'imager-vmlinuz', 'kernel');
      const initrd = await uploadImage(t, readFileSync(b.initramfs), 'imager-initramfs', 'initrd');
      return { kernel, initrd };
    })();
    imagerUploads.set(t, up);
  }
  return up;
}

/** An imaging profile for `diskImage` with the imager; returns the profile id. */
export async function imagingProfile(t: ApiTarget, diskImage: string, spec: Record<string, unknown> = {}): Promise<string> {
  const { kernel, initrd } = await imagerImages(t);
  const p = await ok<{ id: string }>(
    call(t, 'POST', '/v1/profiles', { json: { name: unique('imaging'), spec: { kind: 'imaging', kernel: kernel.id, initrds: [initrd.id], diskImage, cmdline: 'console=ttyS0 panic=-1', ...spec } } }),
    201,
    'imaging profile',
  );
  return p.id;
}

export const zstdCompress = (bytes: Uint8Array): Buffer => execFileSync('zstd', ['-q', '-c', '-3'], { input: bytes, maxBuffer: 1 << 30 });

/** The imager's last word on the console: `EDGEBOOT-IMAGER result=<r> action=<a>`. */
export function imagerResult(run: VmRun): { result: string; action: string } | null {
  const line = run.lines.find((l) => l.includes('EDGEBOOT-IMAGER result='));
  const m = line ? /EDGEBOOT-IMAGER result=(\S+) action=(\S+)/.exec(line) : null;
  return m ? { result: m[1]!, action: m[2]! } : null;
}
