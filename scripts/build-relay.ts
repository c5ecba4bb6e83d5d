/**
 * Bundles the relay into one ES module, `relay/dist/edgeboot-relay.mjs`, which is what a site runs
 * (`relay/edgeboot-relay.service`). Why ship a bundle: run from its TypeScript sources the relay loads
 * Node's type stripper and ~150 modules, and idles at ~117 MB resident (60 MB private); the bundle
 * needs neither and idles at ~82 MB (35 MB private). The tests that start the relay as a process run
 * this bundle, built from the current sources (test/relay/support/lan.ts).
 *
 * Beside it go the relay's native parts (relay/build/native.ts): `edgeboot-tftp-pump`, its TFTP data
 * path, and `edgeboot-memory.node`, which gives freed memory back after a busy spell.
 * `npm run build:relay` also writes `relay/dist/boot/`, the iPXE binaries of Debian trixie's `ipxe`
 * package with their manifest (relay/build/boot-files.ts): the relay's default `boot_files` is the
 * `boot` folder beside its bundle. Tests build only the bundle (`buildRelay()`) and name their folder.
 *
 *   npm run build:relay
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildBootFiles, RELAY_DIST_BOOT } from '../relay/build/boot-files.ts';
import { buildNativeParts } from '../relay/build/native.ts';
import { bundleForNode } from './bundle-node.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const RELAY_BUNDLE = join(ROOT, 'relay/dist/edgeboot-relay.mjs');

/** The version a build carries (relay/src/version.ts): the bundle never reads package.json at run time. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The bundle, and beside it the native parts (relay/build/native.ts). */
export function buildRelay(out = RELAY_BUNDLE): Promise<string> {
  buildNativeParts(dirname(out));
  return bundleForNode(join(ROOT, 'relay/src/main.ts'), out, { define: { EDGEBOOT_RELAY_VERSION: JSON.stringify(PACKAGE_VERSION) } });
}

if (import.meta.main) {
  const out = await buildRelay();
  console.log(`relay bundled: ${out}`);
  const m = await buildBootFiles(RELAY_DIST_BOOT);
  console.log(`boot files: ${m.package} ${m.version} (${m.suite}) in ${RELAY_DIST_BOOT}`);
}
