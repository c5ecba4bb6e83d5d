/**
 * The signed chain's real pieces for end-to-end boots under Secure Boot: Debian trixie's Microsoft-signed
 * shim (16.1) and Debian-signed network GRUB (2.12), fetched with `apt-get download` through a private
 * apt configuration (imager/build/suite.ts) and never installed; and a kernel signed by a key no
 * firmware or shim trusts (the Debian kernel with its signature replaced by `sbsign` with a key made
 * here), which shim must refuse.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { debianPackage } from '../../../imager/build/debian-package.ts';
import { call, unique, type ApiTarget } from '../../contract/target.ts';
import { CACHE } from './machines.ts';
import { uploadImage } from './imaging.ts';

export interface SignedChainFiles {
  shim: string;
  grub: string;
  shimVersion: string;
  grubVersion: string;
}

let files: Promise<SignedChainFiles> | undefined;

export function signedChainFiles(): Promise<SignedChainFiles> {
  files ??= (async () => {
    const shim = await debianPackage(CACHE, 'shim-signed', { suite: 'trixie' });
    const grub = await debianPackage(CACHE, 'grub-efi-amd64-signed', { suite: 'trixie' });
    const out = {
      shim: join(shim.root, 'usr/lib/shim/shimx64.efi.signed'),
      grub: join(grub.root, 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'),
      shimVersion: shim.version,
      grubVersion: grub.version,
    };
    for (const p of [out.shim, out.grub]) if (!existsSync(p)) throw new Error(`${p} is missing from the unpacked package`);
    return out;
  })();
  return files;
}

/** shim and GRUB as images (kind efi) of this cloud. */
export async function signedChainImages(t: ApiTarget): Promise<{ shim: string; grub: string }> {
  const f = await signedChainFiles();
  const shim = await uploadImage(t, readFileSync(f.shim), 'shimx64.efi', 'efi');
  const grub = await uploadImage(t, readFileSync(f.grub), 'grubnetx64.efi', 'efi');
  return { shim: shim.id, grub: grub.id };
}

/**
 * `kernel` re-signed with a throw-away key (openssl + sbsigntool): still an Authenticode-signed EFI
 * image, so the catalog accepts it, but its signer is in no db and is not shim's vendor key.
 */
export function untrustedKernel(kernel: string): string {
  return untrustedSigned(kernel);
}

/** Any EFI image with its signature (if any) replaced by one from a throw-away key. */
export function untrustedSigned(file: string): string {
  const kernel = file;
  const dir = join(CACHE, 'untrusted-signer');
  const out = join(dir, `${basename(file)}-${readFileSync(kernel).length}-untrusted`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  if (!existsSync(cert)) {
    execFileSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=edgeboot test: an untrusted kernel signer/', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  }
  const bare = `${out}.bare-${process.pid}`;
  copyFileSync(kernel, bare);
  // Drop the existing signature (Debian's); an unsigned file has none to drop.
  if (execFileSync('sbverify', ['--list', bare], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes('signature 1')) execFileSync('sbattach', ['--remove', bare], { stdio: 'pipe' });
  execFileSync('sbsign', ['--key', key, '--cert', cert, '--output', `${out}.tmp-${process.pid}`, bare], { stdio: 'pipe' });
  renameSync(`${out}.tmp-${process.pid}`, out);
  rmSync(bare, { force: true });
  return out;
}

export async function profile(t: ApiTarget, spec: Record<string, unknown>): Promise<string> {
  const r = await call(t, 'POST', '/v1/profiles', { json: { name: unique(`sb-${spec.kind}`), spec } });
  if (r.status !== 201) throw new Error(`profile: ${r.status} ${r.text.slice(0, 400)}`);
  return r.body.id;
}
