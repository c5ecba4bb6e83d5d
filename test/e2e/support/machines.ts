/** What the end-to-end scenarios put in the cloud, and what they read back from VMs and the API. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, unique, type ApiTarget } from '../../contract/target.ts';
import { buildInitramfs, buildLocalDisk, debianKernel } from './os-image.ts';
import type { VmRun } from './site.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** Downloaded kernel packages and built images, reused across runs (gitignored). */
export const CACHE = join(ROOT, '.cache', 'e2e');

async function ok<T = any>(r: Promise<{ status: number; body: any; text: string }>, want: number, what: string): Promise<T> {
  const x = await r;
  if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body as T;
}

let built: Promise<{ vmlinuz: string; initrd: string; disk: (marker: string) => Promise<string> }> | undefined;

/** The Debian kernel and the busybox initramfs, built once per process. */
export function osFiles() {
  built ??= (async () => {
    const kernel = await debianKernel(CACHE);
    const initrd = await buildInitramfs({ kernel, out: join(CACHE, `initrd-${process.pid}.gz`) });
    return { vmlinuz: kernel.vmlinuz, initrd, disk: (marker: string) => buildLocalDisk(join(CACHE, `disk-${process.pid}-${marker}.img`), marker) };
  })();
  return built;
}

export async function uploadFile(t: ApiTarget, path: string, name: string): Promise<string> {
  const bytes = readFileSync(path);
  const img = await ok<{ id: string }>(call(t, 'POST', '/v1/images', { json: { name: unique(name) } }), 201, 'image');
  await ok(call(t, 'PUT', `/v1/images/${img.id}/content`, { body: bytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }), 200, 'image content');
  return img.id;
}

/**
 * A linux profile that boots the test OS (through `signedChain`'s shim and GRUB on UEFI x64, if given): its init prints the callback token and the boot id (so the
 * test can tell that the script the cloud rendered for this boot is the one that ran), reports
 * `succeeded` through the callback URL, and powers off.
 */
export async function testOsProfile(t: ApiTarget, signedChain?: { shim: string; grub: string }): Promise<string> {
  const os = await osFiles();
  const kernel = await uploadFile(t, os.vmlinuz, 'vmlinuz');
  const initrd = await uploadFile(t, os.initrd, 'initrd');
  const cmdline = 'console=ttyS0 quiet panic=-1 edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}} edgeboot.marker={{bootId}}';
  const p = await ok<{ id: string }>(call(t, 'POST', '/v1/profiles', { json: { name: unique('test-os'), spec: { kind: 'linux', kernel, initrds: [initrd], cmdline, ...signedChain } } }), 201, 'profile');
  return p.id;
}

export async function assign(t: ApiTarget, siteId: string, mac: string, profileId: string, opts: { once?: boolean; arch?: string } = {}): Promise<void> {
  await ok(call(t, 'POST', '/v1/machines', { json: { mac, siteId, ...(opts.arch ? { arch: opts.arch } : {}) } }), 201, 'machine');
  await ok(call(t, 'POST', '/v1/assignments', { json: { profileId, selector: { mac }, ...(opts.once ? { once: true } : {}) } }), 201, 'assignment');
}

export function marker(run: VmRun): { token: string; bootId: string; callback: string | null } | null {
  const i = run.lines.findIndex((l) => l.includes('EDGEBOOT-MARKER'));
  if (i < 0) return null;
  const m = /EDGEBOOT-MARKER token=(\S*) marker=(\S*)/.exec(run.lines[i]!);
  const cb = run.lines.find((l) => l.includes('EDGEBOOT-CALLBACK'));
  return m ? { token: m[1]!, bootId: m[2]!, callback: cb ? (/status=(\S+)/.exec(cb)?.[1] ?? null) : null } : null;
}

/** The console, for a failure message: the last lines, which say where the boot stopped. */
export function tail(run: VmRun, n = 40): string {
  return run.lines.slice(-n).join('\n');
}

export async function machine(t: ApiTarget, mac: string): Promise<any> {
  return ok(call(t, 'GET', `/v1/machines/${mac}`), 200, 'machine');
}

export async function timeline(t: ApiTarget, mac: string): Promise<any> {
  return ok(call(t, 'GET', `/v1/machines/${mac}/timeline`), 200, 'timeline');
}
