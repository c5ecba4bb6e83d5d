/**
 * The relay's version and the build facts baked into a packaged relay. `scripts/package-relay.ts`
 * and `scripts/build-relay.ts` replace the identifiers below at build time (esbuild `define`), so a
 * bundle or executable copied alone never reads `package.json` (it is not beside it on a site box).
 * Run from the sources, the version comes from the repository's package.json.
 */
import { readFileSync } from 'node:fs';

declare const EDGEBOOT_RELAY_VERSION: string | undefined;
declare const EDGEBOOT_RELAY_RELEASE_KEYS: string | undefined;

export const VERSION: string =
  typeof EDGEBOOT_RELAY_VERSION === 'string'
    ? EDGEBOOT_RELAY_VERSION
    : (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Public keys (JWK `OKP`/`Ed25519`, with `kid`) whose signatures this relay accepts on a release
 * (update/verify.ts). Baked in by the packager; a relay run from the sources trusts none, so it
 * never updates itself.
 */
export const RELEASE_KEYS: readonly JsonWebKey[] = typeof EDGEBOOT_RELAY_RELEASE_KEYS === 'string' ? (JSON.parse(EDGEBOOT_RELAY_RELEASE_KEYS) as JsonWebKey[]) : [];

/** The CPU the running binary is built for, as release names spell it (`x64`, `arm64`). */
export const ARCH = process.arch;
